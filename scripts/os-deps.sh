#!/usr/bin/env bash
# OS packages the tooling needs on a fresh Debian/Ubuntu machine. Debian does
# not ship python3-venv by default; psycopg2 and the Ansible modules need the
# PostgreSQL client library; sudo serves Ansible's become; npm fetches the PostgreSQL 14 test binaries.
set -euo pipefail
need=()
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
command -v git >/dev/null 2>&1 || need+=(git)
# Ansible's become (root -> postgres on localhost) uses sudo; minimal images lack it.
command -v sudo >/dev/null 2>&1 || need+=(sudo)
command -v npm >/dev/null 2>&1 || need+=(npm)
command -v curl >/dev/null 2>&1 || need+=(curl)
dpkg -s ca-certificates >/dev/null 2>&1 || need+=(ca-certificates)
dpkg -s locales >/dev/null 2>&1 || need+=(locales)
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
