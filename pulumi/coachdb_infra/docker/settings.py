"""Settings of the Docker-host target: the ``coachdb:*`` keys only this target reads.

Why a module of its own: the Docker keys (engine endpoint, published address and
port, object names, memory, restart policy, the blue/green upgrade) mean nothing
to Railway; keeping them here lets each target's settings be read and checked
before its resources are declared, with errors that name the stack key
(:class:`coachdb_infra.common.config.ConfigError`). The shared keys arrive as
:class:`coachdb_infra.common.config.Settings`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

import pulumi

from coachdb_infra.common.config import (
    _IMAGE,
    ConfigError,
    ImageRef,
    Settings,
    read_bool,
    read_choice,
    read_green,
    read_image,
    read_int,
    read_list,
    read_secret,
    read_server_settings,
    read_str,
)

RESTART_POLICIES = ("no", "on-failure", "always", "unless-stopped")
# prometheus-postgres-exporter as a second container (coachdb:exporter). Debian's package
# (0.17.1 in Debian 13, what the Ansible hosts run) has no image; the project's own image of
# the same release is the default, pinned by tag (add @sha256:... in the stack to pin more).
EXPORTER_IMAGE = "quay.io/prometheuscommunity/postgres-exporter:v0.17.1"
LOOPBACK = ("127.0.0.1", "::1")


@dataclass(frozen=True)
class ExporterSettings:
    """coachdb:exporter: prometheus-postgres-exporter next to the database (off by default).

    It logs in as a pg_monitor role with a generated password over hostssl, verify-full
    against the stack's CA, on the stack's network; it publishes its port on
    ``bind_address`` (loopback unless a web configuration with TLS/auth is given).
    """

    image: str
    port: int
    bind_address: str
    web_config: pulumi.Output[str] | None


@dataclass(frozen=True)
class GreenSettings:
    """Blue/green upgrade: a second container on a newer major, with its own volume and port.

    ``active`` says which side the connection outputs (database_url, app_env) point at;
    the data is moved between the two by ``python -m coachdb.upgrade`` (docs/upgrade.md).
    """

    major: int
    image: ImageRef
    port: int
    container_name: str
    volume_name: str
    active: bool


@dataclass(frozen=True)
class DockerSettings:
    """Settings of the Docker-host target (``coachdb_infra.docker.deploy``)."""

    image: ImageRef
    docker_host: str | None
    ssh_opts: list[str]
    port: int
    bind_address: str
    container_name: str
    volume_name: str
    network_name: str
    memory_mb: int
    restart: str
    protect_volume: bool
    # coachdb:serverSettings, checked against the guarded settings (coachdb.profile.GUARDS)
    server_settings: dict[str, str] = field(default_factory=dict)
    green: GreenSettings | None = None
    exporter: ExporterSettings | None = None


def load(common: Settings) -> DockerSettings:
    """Read and validate the Docker keys; ConfigError names the key and the fix."""
    major = common.postgres_major
    docker_host = read_str("dockerHost")
    if docker_host is not None and not re.match(r"^(ssh|tcp|unix|npipe)://.+", docker_host):
        raise ConfigError(
            "dockerHost",
            f"{docker_host!r} is not a Docker endpoint URL",
            "pulumi config set coachdb:dockerHost ssh://deploy@db1.example.com "
            "(or unset it for the local engine)",
        )
    ssh_opts = read_list("dockerSshOpts")
    if ssh_opts and not (docker_host or "").startswith("ssh://"):
        raise ConfigError(
            "dockerSshOpts",
            "is only used with an ssh:// dockerHost",
            "set coachdb:dockerHost ssh://user@host or remove it",
        )
    bind = read_str("bindAddress", "127.0.0.1")
    assert bind is not None
    try:
        ipaddress.ip_address(bind)
    except ValueError:
        raise ConfigError(
            "bindAddress",
            f"{bind!r} is not an IP address",
            "pulumi config set coachdb:bindAddress 127.0.0.1 "
            "(or the private address clients reach)",
        ) from None
    names = {}
    for key, default in (
        ("containerName", "coachdb-postgres"),
        ("volumeName", "coachdb-pgdata"),
        ("networkName", "coachdb"),
    ):
        value = read_str(key, default)
        assert value is not None
        if not re.match(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$", value):
            raise ConfigError(
                key,
                f"{value!r} is not a valid Docker object name",
                f"pulumi config set coachdb:{key} {default}",
            )
        names[key] = value
    if docker_host and not docker_host.startswith("unix://") and bind == "127.0.0.1":
        pulumi.log.warn(
            "coachdb:bindAddress is 127.0.0.1 on a remote Docker host: only processes on "
            f"{docker_host} can connect. Set coachdb:bindAddress to its private address to "
            "serve other machines."
        )
    if bind in ("0.0.0.0", "::"):  # noqa: S104 - a comparison, not a bind
        pulumi.log.warn(
            f"coachdb:bindAddress {bind} publishes PostgreSQL on every interface of the host; "
            "prefer the private address clients use, and firewall the port."
        )
    if common.host == "localhost" and docker_host:
        pulumi.log.warn(
            "coachdb:host is localhost but the engine is remote: database_url will only work "
            "on that host. Set coachdb:host to the name clients dial."
        )
    port = read_int("port", 5432, 1, 65535)
    return DockerSettings(
        image=read_image("image", major),
        docker_host=docker_host,
        ssh_opts=ssh_opts,
        port=port,
        bind_address=bind,
        container_name=names["containerName"],
        volume_name=names["volumeName"],
        network_name=names["networkName"],
        memory_mb=read_int("memoryMb", 1024, 256, 1024 * 1024),
        restart=read_choice("restartPolicy", RESTART_POLICIES, "unless-stopped"),
        protect_volume=read_bool("protectVolume", True),
        server_settings=read_server_settings("docker", supported=True),
        green=_green_settings(major, port, names["containerName"], names["volumeName"]),
        exporter=_exporter_settings(port),
    )


def _exporter_settings(port: int) -> ExporterSettings | None:
    """coachdb:exporter (exporterImage, exporterPort, exporterBindAddress, exporterWebConfig)."""
    if not read_bool("exporter", False):
        for key in ("exporterImage", "exporterPort", "exporterBindAddress", "exporterWebConfig"):
            if read_str(key) is not None:
                raise ConfigError(
                    key,
                    "is set but coachdb:exporter is off",
                    "pulumi config set coachdb:exporter true",
                )
        return None
    image = read_str("exporterImage", EXPORTER_IMAGE)
    assert image is not None
    match = _IMAGE.match(image)
    if not match or match.group("tag") in (None, "latest"):
        raise ConfigError(
            "exporterImage",
            f"{image!r} is not an image reference pinned by a release tag",
            f"pulumi config set coachdb:exporterImage {EXPORTER_IMAGE}",
        )
    exporter_port = read_int("exporterPort", 9187, 1, 65535)
    if exporter_port == port:
        raise ConfigError(
            "exporterPort",
            f"{exporter_port} is PostgreSQL's port",
            "pulumi config set coachdb:exporterPort 9187",
        )
    bind = read_str("exporterBindAddress", "127.0.0.1")
    assert bind is not None
    try:
        ipaddress.ip_address(bind)
    except ValueError:
        raise ConfigError(
            "exporterBindAddress",
            f"{bind!r} is not an IP address",
            "pulumi config set coachdb:exporterBindAddress 127.0.0.1",
        ) from None
    web_config = read_secret("exporterWebConfig", required=False)
    if bind not in LOOPBACK and web_config is None:
        raise ConfigError(
            "exporterBindAddress",
            f"{bind} is not a loopback address: the exporter would publish database statistics "
            "without TLS or authentication",
            "pulumi config set --secret coachdb:exporterWebConfig < web-config.yml (TLS and basic "
            "auth, the exporter's --web.config.file format), or use 127.0.0.1",
        )
    return ExporterSettings(
        image=image, port=exporter_port, bind_address=bind, web_config=web_config
    )


def _green_settings(
    major: int, port: int, container_name: str, volume_name: str
) -> GreenSettings | None:
    """coachdb:greenMajor (greenImage, greenPort, activeSide): the new side of blue/green."""
    choice = read_green(major)
    if choice is None:
        return None
    green_port = read_int("greenPort", port + 1, 1, 65535)
    if green_port == port:
        raise ConfigError(
            "greenPort",
            f"{green_port} is the blue side's port",
            f"pulumi config set coachdb:greenPort {port + 1}",
        )
    return GreenSettings(
        major=choice.major,
        image=choice.image,
        port=green_port,
        container_name=f"{container_name}-{choice.major}",
        volume_name=f"{volume_name}-{choice.major}",
        active=choice.active,
    )
