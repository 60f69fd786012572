# Shared by the Molecule scenarios WITHOUT an init system (molecule/nosystemd, molecule/backup):
# a plain container like WSL or a CI job, no systemd and no sudo (they become with su). Ansible
# needs python3 (and python3-apt for the apt module). scripts/build-base-images.sh builds it
# from the local debian:<suite> image; nothing is pulled.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}

ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-apt ca-certificates iproute2 procps openssl \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/*

CMD ["sleep", "infinity"]
