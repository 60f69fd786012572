#!/usr/bin/env bash
# Build the Debian base images the Molecule scenarios and container tests use,
# when they are missing. No container registry is reachable from CI, so the
# images are made with debootstrap and `docker import`, then tagged with the
# names a normal user would pull (debian:bookworm, debian:trixie). They are
# minimal root file systems, like the official images.
#
# On top of them it builds the images the Molecule scenarios and `make bench-converge` share
# (scripts/images/*.Dockerfile, tag from scripts/image-tag.sh), once per machine instead of
# once per scenario:
#   coachdb-molecule/debian-systemd:<suite>-<tag>   every suite (systemd as PID 1)
#   coachdb-molecule/debian-plain:<suite>-<tag>     the suites in $COACHDB_PLAIN_SUITES
#                                                   (default bookworm; no init, no sudo)
#
# Usage: scripts/build-base-images.sh [suite ...]   (default: bookworm trixie)
set -euo pipefail

MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(bookworm trixie)

log() { printf '[base-images] %s\n' "$*"; }

if ! command -v debootstrap >/dev/null 2>&1; then
  log "installing debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

for suite in "${suites[@]}"; do
  tag="debian:${suite}"
  if docker image inspect "$tag" >/dev/null 2>&1; then
    log "$tag present"
    continue
  fi
  root="$(mktemp -d "/var/tmp/rootfs-${suite}.XXXXXX")"
  log "debootstrap $suite into $root"
  debootstrap --variant=minbase "$suite" "$root" "$MIRROR" >"$root.log" 2>&1 || {
    tail -n 30 "$root.log" >&2
    exit 1
  }
  # Same trims as the official image: no apt cache, no lists.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | docker import \
    --change 'CMD ["bash"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    - "$tag" >/dev/null
  rm -rf "$root" "$root.log"
  log "built $tag"
done

here="$(cd "$(dirname "$0")" && pwd)"
tag="$("$here/image-tag.sh")"
build() { # variant suite
  local image="coachdb-molecule/debian-$1:$2-$tag"
  if docker image inspect "$image" >/dev/null 2>&1; then
    log "$image present"
    return
  fi
  log "building $image"
  local out
  out="$(mktemp)"
  docker build --build-arg "BASE_IMAGE=debian:$2" -t "$image" \
    -f "$here/images/debian-$1.Dockerfile" "$here/images" >"$out" 2>&1 || {
    tail -n 30 "$out" >&2
    exit 1
  }
  rm -f "$out"
  log "built $image"
}
for suite in "${suites[@]}"; do
  build systemd "$suite"
  case " ${COACHDB_PLAIN_SUITES:-bookworm} " in *" $suite "*) build plain "$suite" ;; esac
done
