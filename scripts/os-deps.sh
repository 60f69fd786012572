#!/usr/bin/env bash
# OS packages the tooling needs on a fresh Debian/Ubuntu machine.
#   scripts/os-deps.sh        what `make dev` needs: python3-venv (Debian does not ship it by
#                             default), sudo (Ansible's become to the postgres user), python3-apt
#                             (Ansible's apt module on this machine), locales, CA certificates,
#                             sqitch + libdbd-pg-perl + psql (schema migrations, docs/migrations.md)
#   scripts/os-deps.sh test   plus what `make test` needs: rsync (Molecule's docker driver copies
#                             the build context with it), npm (PostgreSQL 14 test binaries),
#                             debootstrap (local base images), nodejs (clients/node tests, Debian's
#                             Node 18); Docker: scripts/ensure-docker.sh
set -euo pipefail
need=()
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
command -v sudo >/dev/null 2>&1 || need+=(sudo)
command -v git >/dev/null 2>&1 || need+=(git)
/usr/bin/python3 -c 'import apt' 2>/dev/null || need+=(python3-apt)
dpkg -s ca-certificates >/dev/null 2>&1 || need+=(ca-certificates)
dpkg -s locales >/dev/null 2>&1 || need+=(locales)
command -v sqitch >/dev/null 2>&1 || need+=(sqitch)
dpkg -s libdbd-pg-perl >/dev/null 2>&1 || need+=(libdbd-pg-perl)
command -v psql >/dev/null 2>&1 || need+=(postgresql-client)
if [ "${1:-dev}" = test ]; then
  command -v rsync >/dev/null 2>&1 || need+=(rsync)
  command -v npm >/dev/null 2>&1 || need+=(npm)
  command -v node >/dev/null 2>&1 || need+=(nodejs)
  command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "os-deps: missing ${need[*]}; run as root or: sudo apt-get install ${need[*]}" >&2
    exit 1
  fi
  echo "[os-deps] installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
