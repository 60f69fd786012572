#!/usr/bin/env bash
# OS packages the tooling needs on a fresh Debian/Ubuntu machine.
#   scripts/os-deps.sh        what `make dev` needs: python3-venv (Debian does not ship it by
#                             default), sudo (Ansible's become to the postgres user), python3-apt
#                             (Ansible's apt module on this machine), locales, CA certificates,
#                             sqitch + libdbd-pg-perl + psql (schema migrations, docs/migrations.md)
#   scripts/os-deps.sh test   plus what `make test` needs: rsync (Molecule's docker driver copies
#                             the build context with it), npm (PostgreSQL 14/17 test binaries),
#                             debootstrap (local base images), Debian's PostgreSQL 15 server and
#                             psql (the suites run every role-model and client test on 15 too;
#                             pg_dump/pg_restore for the upgrade drill);
#                             nodejs (clients/node tests, Debian's Node 18);
#                             prometheus (its promtool checks and unit-tests the alert rules,
#                             ansible/prometheus/; installed without recommends, and its
#                             server is stopped and disabled: the tests need only promtool);
#                             pgbackrest (the backup role's archive settings against a real
#                             server; `make bench-server` archives to a local repository);
#                             strace (`make bench-server --trace-syncs` counts pgBackRest's
#                             sync calls; tests/monitoring/test_bench_server_io.py);
#                             Docker: scripts/ensure-docker.sh
# The tests start their own throwaway clusters from /usr/lib/postgresql/15/bin. The package's
# post-install script creates and starts a cluster 15/main on port 5432, which would clash with
# `make dev`'s own cluster there (roles/postgresql_cluster refuses a second cluster on its port):
# when this script installed the server, it drops that fresh, empty cluster again.
set -euo pipefail
need=()
need_norec=()
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
  dpkg -s postgresql-15 >/dev/null 2>&1 || need+=(postgresql-15)
  dpkg -s postgresql-client-15 >/dev/null 2>&1 || need+=(postgresql-client-15)
  command -v pgbackrest >/dev/null 2>&1 || need+=(pgbackrest)
  command -v strace >/dev/null 2>&1 || need+=(strace)
  # tests/ansible/test_tls_rerun.py runs role postgresql_tls with the system interpreter
  /usr/bin/python3 -c 'import cryptography' 2>/dev/null || need+=(python3-cryptography)
  # tests/ansible/test_cluster_first_start.py: postgresql_cluster's handlers query as postgres
  /usr/bin/python3 -c 'import psycopg2' 2>/dev/null || need+=(python3-psycopg2)
  command -v promtool >/dev/null 2>&1 || need_norec+=(prometheus)
fi
if [ ${#need_norec[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "os-deps: missing ${need_norec[*]}; run as root or: sudo apt-get install --no-install-recommends ${need_norec[*]}" >&2
    exit 1
  fi
  echo "[os-deps] installing ${need_norec[*]} (without recommends)"
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends "${need_norec[@]}" >/dev/null
  if [ -d /run/systemd/system ]; then
    systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "os-deps: missing ${need[*]}; run as root or: sudo apt-get install ${need[*]}" >&2
    exit 1
  fi
  echo "[os-deps] installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${need[@]}" >/dev/null
  if [[ " ${need[*]} " == *" postgresql-15 "* ]] && pg_lsclusters --no-header 2>/dev/null \
      | awk '$1 == 15 && $2 == "main" {found=1} END {exit !found}'; then
    echo "[os-deps] dropping the package's empty cluster 15/main (tests use their own clusters)"
    pg_dropcluster --stop 15 main
  fi
fi
