"""``python -m coachdb`` is the ``coachdb`` command (for hosts without the console script)."""

import sys

from coachdb.cli import main

sys.exit(main())
