"""Entry point of the coachdb Pulumi program (see coachdb_infra/program.py).

The program directory goes on sys.path so that `pulumi up` run from here finds
the coachdb_infra package whatever the working directory of the language host.
"""

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from coachdb_infra.program import main  # noqa: E402

main()
