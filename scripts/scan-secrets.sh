#!/usr/bin/env bash
# Secret scan of the tracked tree (see scripts/scan_secrets.py).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python scripts/scan_secrets.py "$@"
