# Shared by every Molecule scenario that boots systemd (molecule/default, and any scenario whose
# platforms use $COACHDB_SYSTEMD_IMAGE_<SUITE>) and by `make bench-converge`: a systemd-booting
# Debian with what Ansible needs (python3, python3-apt, sudo). scripts/build-base-images.sh
# builds it once per release from the local debian:<suite> image; nothing is pulled.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}

ENV container=docker DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      python3 python3-apt systemd systemd-sysv dbus sudo ca-certificates iproute2 procps \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* \
 && find /etc/systemd/system /lib/systemd/system \
      \( -name '*getty*' -o -name 'systemd-logind*' -o -name 'systemd-remount-fs*' \
         -o -name 'apt-daily*' -o -name 'e2scrub*' \) -type l -delete 2>/dev/null || true

STOPSIGNAL SIGRTMIN+3
CMD ["/lib/systemd/systemd"]
