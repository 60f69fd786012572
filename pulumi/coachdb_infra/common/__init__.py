"""What both targets use: stack-config parsing (``config``), TLS issuing (``tls``),
role passwords (``passwords``), the init scripts (``initdb``) and the options of a
target component's children (``component``)."""
