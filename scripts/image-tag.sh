#!/usr/bin/env bash
# Print the tag of the shared Molecule images: a hash of their Dockerfiles (scripts/images/),
# so checkouts with the same Dockerfiles share the images and a changed Dockerfile gets its own
# tag instead of replacing another checkout's image. Used by the Makefile and
# scripts/build-base-images.sh (one definition).
set -euo pipefail
cd "$(dirname "$0")/images"
cat debian-systemd.Dockerfile debian-plain.Dockerfile | sha256sum | cut -c1-12
