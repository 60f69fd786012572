"""prometheus-postgres-exporter as a second container of the Docker target (coachdb:exporter).

Why a password over TLS and not peer over a shared socket: peer authentication maps the
connecting process's uid to a user name in the *server's* container; the only uid both
images share is the postgres one, which peer maps to the superuser. The exporter would
then read everything. A dedicated ``pg_monitor`` login role (statistics only) with a
generated password (pulumi-random, a secret like the other passwords) over ``hostssl``
with ``sslmode=verify-full`` against the stack's CA needs nothing the stack does not already
have (network, CA, pg_hba's ``hostssl all all scram-sha-256``), and it changes nothing on
stacks that leave the setting off: the password, the script and the container only exist
when it is on, so their URNs are new and every old one is untouched.

The exporter reads its password from a file (``DATA_SOURCE_PASS_FILE``), so it is in
neither ``docker inspect`` nor the process list; the file lives only in the exporter's
container. Turning the setting on replaces the PostgreSQL container once (its init
scripts gain the monitoring role), on the same volume.
"""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

from coachdb_infra.common import initdb, passwords, tls
from coachdb_infra.common.config import Settings

from . import server as server_files
from .settings import DockerSettings, ExporterSettings

CONFIG_DIR = "/etc/coachdb-exporter"
CA_FILE = f"{CONFIG_DIR}/ca.crt"
PASSWORD_FILE = f"{CONFIG_DIR}/password"
WEB_CONFIG_FILE = f"{CONFIG_DIR}/web.yml"
INTERNAL_PORT = 9187


def monitor_password(settings: Settings, opts: pulumi.ResourceOptions) -> pulumi.Output[str]:
    """The monitoring role's password: generated, rotated with coachdb:passwordRotation."""
    return passwords.generated_password(initdb.MONITOR_ROLE, settings, opts)


def monitoring_upload() -> docker.ContainerUploadArgs:
    """The init script that creates the role (the PostgreSQL container's side)."""
    return docker.ContainerUploadArgs(
        file=f"/docker-entrypoint-initdb.d/{initdb.MONITORING_SCRIPT}",
        content=initdb.monitoring_sql(),
        permissions="0600",
    )


def data_source_uri(server_host: str, port: int) -> str:
    """Where the exporter connects: the server's name on the stack network, verify-full."""
    return (
        f"{server_host}:{port}/{initdb.MONITOR_DATABASE}?sslmode=verify-full&sslrootcert={CA_FILE}"
    )


def exporter_args(cfg: ExporterSettings) -> list[str]:
    """The exporter's flags (0.17: statement statistics from its stat_statements collector)."""
    args = [f"--web.listen-address=:{INTERNAL_PORT}", "--collector.stat_statements"]
    if cfg.web_config is not None:
        args.append(f"--web.config.file={WEB_CONFIG_FILE}")
    return args


def declare(
    docker_cfg: DockerSettings,
    cfg: ExporterSettings,
    *,
    network: docker.Network,
    certs: tls.ServerTls,
    password: pulumi.Output[str],
    server_host: str,
    server: docker.Container,
    labels: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> docker.Container:
    """The exporter's image and container, children of the target's component."""
    image = docker.RemoteImage("exporter-image", name=cfg.image, keep_locally=True, opts=opts)
    # World-readable inside this container only: the image runs as nobody, and uploads
    # are root's. No other process runs there.
    uploads = [
        docker.ContainerUploadArgs(file=CA_FILE, content=certs.ca_cert_pem, permissions="0444"),
        docker.ContainerUploadArgs(file=PASSWORD_FILE, content=password, permissions="0444"),
    ]
    if cfg.web_config is not None:
        uploads.append(
            docker.ContainerUploadArgs(
                file=WEB_CONFIG_FILE, content=cfg.web_config, permissions="0444"
            )
        )
    name = f"{docker_cfg.container_name}-exporter"
    return docker.Container(
        "exporter",
        name=name,
        image=image.image_id,
        hostname=name,
        command=exporter_args(cfg),
        envs=[
            f"DATA_SOURCE_URI={data_source_uri(server_host, server_files.INTERNAL_PORT)}",
            f"DATA_SOURCE_USER={initdb.MONITOR_ROLE}",
            f"DATA_SOURCE_PASS_FILE={PASSWORD_FILE}",
        ],
        uploads=uploads,
        networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=network.name)],
        ports=[
            docker.ContainerPortArgs(internal=INTERNAL_PORT, external=cfg.port, ip=cfg.bind_address)
        ],
        restart=docker_cfg.restart,
        must_run=True,
        labels=[docker.ContainerLabelArgs(label=k, value=v) for k, v in labels.items()],
        opts=pulumi.ResourceOptions.merge(
            opts,
            pulumi.ResourceOptions(delete_before_replace=True, depends_on=[server]),
        ),
    )
