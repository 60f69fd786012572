"""Write monitoring/prometheus/coachdb-alerts.yml from coachdb.alerts (and the version table).

``--check`` exits 1 when the committed file differs (run by `make lint` and by
tests/monitoring/test_alert_rules.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from coachdb.alerts import render

RULES = Path(__file__).resolve().parents[1] / "monitoring" / "prometheus" / "coachdb-alerts.yml"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when the file is stale")
    args = parser.parse_args(argv)
    wanted = render()
    if args.check:
        if not RULES.exists() or RULES.read_text() != wanted:
            fix = ".venv/bin/python scripts/gen_alert_rules.py"
            print(f"{RULES} is stale: run {fix}", file=sys.stderr)
            return 1
        return 0
    RULES.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
