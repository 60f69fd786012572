"""A real client on the controller, through the port Docker publishes on 127.0.0.1.

Proves what the server admits: no plaintext, no TLS below 1.2, a certificate that verifies
for the names clients dial (and not for others), and fast, explicit authentication errors.
"""

from __future__ import annotations

import socket
import ssl
import struct
from pathlib import Path
from typing import Any

import psycopg
import pytest

SSL_REQUEST = struct.pack("!ii", 8, 80877103)  # PostgreSQL SSLRequest packet


def _tls_handshake(port: int, context: ssl.SSLContext, server_hostname: str) -> str:
    """Open TCP to the server, ask for TLS the PostgreSQL way, complete the handshake.

    Returns the negotiated protocol version; raises ssl.SSLError on a refused handshake.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.sendall(SSL_REQUEST)
        assert raw.recv(1) == b"S", "server declined TLS"
        with context.wrap_socket(raw, server_hostname=server_hostname) as tls:
            return str(tls.version())


def _verifying_context(ca_cert: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca_cert))
    context.check_hostname = True
    return context


def test_plaintext_login_refused(published_port: int) -> None:
    """sslmode=disable reaches the closing `hostnossl ... reject` rule."""
    with pytest.raises(psycopg.OperationalError) as excinfo:
        psycopg.connect(
            host="127.0.0.1",
            port=published_port,
            dbname="elite_trading_coach_ai",
            user="trading_coach_user",
            password="irrelevant-the-rule-rejects-first",  # pragma: allowlist secret (test value)
            sslmode="disable",
            connect_timeout=10,
        )
    assert "no encryption" in str(excinfo.value) or "rejects connection" in str(excinfo.value)


def test_tls_1_1_refused(published_port: int, ca_cert: Path) -> None:
    """A client that offers at most TLS 1.1 fails the handshake; TLS 1.2 on the same path works."""
    old = _verifying_context(ca_cert)
    old.set_ciphers("DEFAULT:@SECLEVEL=0")  # let this client offer TLS 1.1 at all
    old.minimum_version = ssl.TLSVersion.TLSv1
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises(ssl.SSLError):
        _tls_handshake(published_port, old, "localhost")

    tls12 = _verifying_context(ca_cert)
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    assert _tls_handshake(published_port, tls12, "localhost") == "TLSv1.2"


def test_certificate_verifies_for_client_names(published_port: int, ca_cert: Path) -> None:
    """The CA the controller received verifies the server for localhost and 127.0.0.1."""
    context = _verifying_context(ca_cert)
    assert _tls_handshake(published_port, context, "localhost") in {"TLSv1.2", "TLSv1.3"}
    assert _tls_handshake(published_port, context, "127.0.0.1") in {"TLSv1.2", "TLSv1.3"}


def test_certificate_rejected_for_wrong_name(published_port: int, ca_cert: Path) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        _tls_handshake(published_port, _verifying_context(ca_cert), "db.wrong.example")


def test_verify_full_with_wrong_host_name_fails(app_conninfo: dict[str, Any]) -> None:
    """libpq: right address, wrong name -> verify-full refuses before authenticating."""
    info = dict(app_conninfo, host="db.wrong.example", hostaddr="127.0.0.1")
    with pytest.raises(psycopg.OperationalError) as excinfo:
        psycopg.connect(**info)
    assert "does not match" in str(excinfo.value)


def test_verify_full_login_and_round_trip(app_conninfo: dict[str, Any]) -> None:
    """The app logs in with verify-full and its password, over TLS >= 1.2, as itself."""
    with psycopg.connect(**app_conninfo) as conn:
        row = conn.execute(
            "SELECT current_user, current_database(), ssl, version "
            "FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        ).fetchone()
        assert row is not None
        user, database, ssl_on, version = row
        assert (user, database, ssl_on) == ("trading_coach_user", "elite_trading_coach_ai", True)
        assert version in {"TLSv1.2", "TLSv1.3"}
        assert conn.execute("SELECT %s::text", ("round trip",)).fetchone() == ("round trip",)


def test_wrong_password_fails_with_an_authentication_error(
    published_port: int, ca_cert: Path
) -> None:
    """An authentication error, not a hang (connect_timeout is the hang-guard)."""
    with pytest.raises(psycopg.OperationalError) as excinfo:
        psycopg.connect(
            host="localhost",
            port=published_port,
            dbname="elite_trading_coach_ai",
            user="trading_coach_user",
            password="definitely-not-the-password",  # pragma: allowlist secret (test value)
            sslmode="verify-full",
            sslrootcert=str(ca_cert),
            connect_timeout=10,
        )
    assert "password authentication failed" in str(excinfo.value)
