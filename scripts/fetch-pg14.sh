#!/usr/bin/env bash
# Kept for existing callers: the PostgreSQL 14 binaries via scripts/fetch-pg.sh.
# Usage: scripts/fetch-pg14.sh [dest]
set -euo pipefail
exec "$(dirname "$0")/fetch-pg.sh" 14 "$@"
