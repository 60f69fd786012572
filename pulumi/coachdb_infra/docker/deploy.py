"""The Docker-host target: PostgreSQL (coachdb:postgresMajor) in one container on an engine.

Resources: (provider for a remote engine) -> image (pinned, kept locally) ->
network -> named data volume (protected, retained on delete) -> CA + server
certificate -> passwords -> container (official-image contract, TLS-only
pg_hba, role model as init scripts, healthcheck, restart policy, memory limit).

Blue/green upgrade (``coachdb:greenMajor``): a second image, volume and container
on the newer major, with the same certificate, passwords and role model, on its
own port; ``coachdb:activeSide`` switches the connection outputs. Both volumes
are protected; the blue side stays until it is removed on purpose. Each side's
socket directory is a volume too (``<volumeName>-run``), which the one-shot data
mover mounts: the superuser only ever logs in over a local socket.

Every resource is a child of one :class:`DockerDatabase` component
(``coachdb:docker:Database``), so ``pulumi stack`` shows the target as one tree.
Stacks created before the component existed declared the same resources at the
top level: each child carries an alias to that URN (``Alias(parent=ROOT_STACK_RESOURCE)``),
so an existing stack adopts them in place instead of replacing the database.
Sidecars (e.g. a prometheus-postgres-exporter container) belong in a module of
their own that declares its container as a child of the component, on
``component.network``, with the CA from ``component.certs``.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_docker as docker

from coachdb import profile
from coachdb_infra.common import initdb, tls
from coachdb_infra.common.component import child_opts
from coachdb_infra.common.config import PASSWORD_KEYS, Settings
from coachdb_infra.common.passwords import role_passwords

from . import exporter, logical, server
from .settings import DockerSettings
from .settings import load as load_settings

APP_ROLE = PASSWORD_KEYS["appPassword"]
MIGRATOR_ROLE = PASSWORD_KEYS["migratorPassword"]
LABEL_PREFIX = "com.elitetradingcoach.coachdb"
COMPONENT_TYPE = "coachdb:docker:Database"
COMPONENT_NAME = "coachdb"
SOCKETS_SUFFIX = "-run"  # <volumeName>-run, <volumeName>-<greenMajor>-run


def _labels(settings: Settings, component: str) -> dict[str, str]:
    return {
        f"{LABEL_PREFIX}.stack": settings.stack,
        f"{LABEL_PREFIX}.component": component,
        f"{LABEL_PREFIX}.managed-by": "pulumi",
    }


def certificate_names(settings: Settings, docker_cfg: DockerSettings) -> list[str]:
    """Every name a client may dial: the configured host, loopback, the container
    name on the Docker network, the published address and any extra SANs."""
    names = [settings.host, "localhost", "127.0.0.1", "::1", docker_cfg.container_name]
    if docker_cfg.green is not None:
        names.append(docker_cfg.green.container_name)
    if docker_cfg.bind_address not in ("0.0.0.0", "::"):  # noqa: S104 - a comparison, not a bind
        names.append(docker_cfg.bind_address)
    return names + settings.extra_sans


def database_url(
    user: str, password: pulumi.Output[str], host: str, port: int, database: str, ca_path: str
) -> pulumi.Output[str]:
    """A libpq URL that verifies the server (verify-full against our CA); secret."""

    def build(pw: str) -> str:
        return profile.database_url(
            user=user, password=pw, host=host, port=port, database=database, sslrootcert=ca_path
        )

    return pulumi.Output.secret(password.apply(build))


def app_env(
    user: str, password: pulumi.Output[str], host: str, port: int, database: str, ca_path: str
) -> pulumi.Output[str]:
    """The application's env file (docs/env-vars.md), same layout as the Ansible one; secret.

    Values are unquoted because ``docker --env-file`` keeps quotes; common/config.py
    refuses passwords that would need them.
    """

    def build(pw: str) -> str:
        body = profile.app_env_lines(
            user=user, password=pw, host=host, port=port, database=database, ca_path=ca_path
        )
        return "\n".join(
            [
                "# Database connection settings for the Elite Trading Coach AI app (Pulumi stack).",
                "# SECRET: keep this file 0600 and out of git.",
                *body,
                "",
            ]
        )

    return pulumi.Output.secret(password.apply(build))


def _volume(
    resource: str, name: str, settings: Settings, opts: pulumi.ResourceOptions
) -> docker.Volume:
    """A volume labelled like every resource of the stack; ``resource`` is its Pulumi name."""
    return docker.Volume(
        resource,
        name=name,
        labels=[
            docker.VolumeLabelArgs(label=k, value=v) for k, v in _labels(settings, resource).items()
        ],
        opts=opts,
    )


def _data_volume(
    resource: str,
    name: str,
    settings: Settings,
    cfg: DockerSettings,
    provider_opts: pulumi.ResourceOptions,
) -> docker.Volume:
    """A data directory's volume (blue or green side), kept whatever happens to the stack."""
    return _volume(
        resource,
        name,
        settings,
        pulumi.ResourceOptions.merge(
            provider_opts,
            # The data outlives the stack: `pulumi destroy` refuses while protected and,
            # once unprotected, forgets the volume instead of deleting it.
            pulumi.ResourceOptions(protect=cfg.protect_volume, retain_on_delete=True),
        ),
    )


def _container(
    resource_name: str,
    settings: Settings,
    cfg: DockerSettings,
    image: docker.RemoteImage,
    volume: docker.Volume,
    network: docker.Network,
    name: str,
    port: int,
    uploads: list[docker.ContainerUploadArgs],
    opts: pulumi.ResourceOptions,
    sockets: docker.Volume | None = None,
    logical_publisher: bool = False,
) -> docker.Container:
    """One PostgreSQL container (blue, or the green side of an upgrade) on its volume and port.

    ``sockets`` (blue/green stacks only): a volume on the image's socket directory, so the
    data move reaches the superuser over the Unix socket (docs/upgrade.md);
    ``logical_publisher``: blue's settings for a logical-replication upgrade.
    """
    mounts = [docker.ContainerVolumeArgs(volume_name=volume.name, container_path=server.DATA_MOUNT)]
    if sockets is not None:
        mounts.append(
            docker.ContainerVolumeArgs(volume_name=sockets.name, container_path=server.SOCKET_DIR)
        )
    return docker.Container(
        resource_name,
        name=name,
        image=image.image_id,
        hostname=name,
        entrypoints=[server.WRAPPER],
        command=server.server_args(
            cfg.memory_mb, cfg.server_settings, logical_publisher=logical_publisher
        ),
        envs=server.container_env(),
        uploads=uploads,
        volumes=mounts,
        networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=network.name, aliases=[name])],
        ports=[
            docker.ContainerPortArgs(
                internal=server.INTERNAL_PORT, external=port, ip=cfg.bind_address
            )
        ],
        healthcheck=docker.ContainerHealthcheckArgs(
            tests=server.healthcheck_test(settings.database),
            interval="10s",
            timeout="5s",
            retries=5,
            start_period="60s",
        ),
        restart=cfg.restart,
        memory=cfg.memory_mb,
        memory_swap=cfg.memory_mb,  # no swap on top: a memory-starved database should fail loudly
        shm_size=max(64, cfg.memory_mb // 4),
        stop_signal="SIGINT",  # PostgreSQL's "fast" shutdown
        stop_timeout=60,
        destroy_grace_seconds=60,
        must_run=True,
        wait=True,  # `pulumi up` ends when the healthcheck passes
        wait_timeout=300,
        remove_volumes=False,
        labels=[
            docker.ContainerLabelArgs(label=k, value=v)
            for k, v in _labels(settings, "postgres").items()
        ],
        opts=pulumi.ResourceOptions.merge(
            opts,
            # Fixed name and port: the old container must go before the new one starts.
            pulumi.ResourceOptions(delete_before_replace=True),
        ),
    )


def _uploads(
    settings: Settings,
    certs: tls.ServerTls,
    passwords: Mapping[str, pulumi.Output[str]],
    extra: list[docker.ContainerUploadArgs] | None = None,
) -> list[docker.ContainerUploadArgs]:
    """The files the wrapper expects: itself, pg_hba, TLS, the superuser password, init scripts.

    ``extra`` (a blue/green side's files) replaces an upload of the same path or is added.
    """
    roles = sorted(passwords)
    passwords_script = pulumi.Output.secret(
        pulumi.Output.all(*[passwords[r] for r in roles]).apply(
            lambda values: initdb.passwords_sql(
                initdb.verifiers_for(dict(zip(roles, values, strict=True)))
            )
        )
    )
    role_model_script = initdb.role_model_sql(settings.database, settings.readonly_role)

    uploads = [
        docker.ContainerUploadArgs(
            file=server.WRAPPER, content=server.WRAPPER_SCRIPT, executable=True, permissions="0755"
        ),
        docker.ContainerUploadArgs(file=server.HBA_FILE, content=server.PG_HBA, permissions="0644"),
        docker.ContainerUploadArgs(
            file=server.CERT_FILE, content=certs.cert_pem, permissions="0644"
        ),
        docker.ContainerUploadArgs(
            file=server.KEY_UPLOAD, content=certs.key_pem, permissions="0600"
        ),
        docker.ContainerUploadArgs(
            file=server.PASSWORD_FILE, content=passwords["postgres"], permissions="0600"
        ),
        docker.ContainerUploadArgs(
            file=f"{server.INITDB_DIR}/{initdb.ROLE_MODEL_SCRIPT}",
            content=role_model_script,
            permissions="0600",
        ),
        docker.ContainerUploadArgs(
            file=f"{server.INITDB_DIR}/{initdb.PASSWORDS_SCRIPT}",
            content=passwords_script,
            permissions="0600",
        ),
    ]
    replaced = {str(u.file): u for u in extra or []}
    kept = [replaced.pop(str(u.file), u) for u in uploads]
    return kept + list(replaced.values())


class DockerDatabase(pulumi.ComponentResource):
    """PostgreSQL on a Docker engine: every resource of the target, as one component.

    Attributes a sidecar needs: ``network``, ``certs``, ``passwords``, ``provider_opts``
    (the engine), ``container`` (blue) and ``active_port``; ``outputs`` are the stack outputs.
    """

    def __init__(
        self,
        name: str,
        settings: Settings,
        cfg: DockerSettings,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        self.outputs = self._declare(settings, cfg)
        self.register_outputs({})

    def _declare(self, settings: Settings, cfg: DockerSettings) -> dict[str, pulumi.Input[object]]:
        provider_opts = child_opts(self)
        if cfg.docker_host:
            provider = docker.Provider(
                "docker-host",
                host=cfg.docker_host,
                ssh_opts=cfg.ssh_opts or None,
                opts=child_opts(self),
            )
            provider_opts = child_opts(self, pulumi.ResourceOptions(provider=provider))
        self.provider_opts = provider_opts

        image = docker.RemoteImage(
            "postgres-image",
            name=cfg.image.reference,
            keep_locally=True,  # destroying the stack must not delete an image other stacks use
            opts=provider_opts,
        )
        network = docker.Network(
            "network",
            name=cfg.network_name,
            driver="bridge",
            labels=[
                docker.NetworkLabelArgs(label=k, value=v)
                for k, v in _labels(settings, "network").items()
            ],
            opts=provider_opts,
        )
        volume = _data_volume("pgdata", cfg.volume_name, settings, cfg, provider_opts)

        certs = tls.issue(
            "coachdb",
            common_name=settings.host,
            sans=certificate_names(settings, cfg),
            cert_validity_days=settings.cert_validity_days,
            ca_validity_days=settings.ca_validity_days,
            opts=child_opts(self),
        )
        passwords = role_passwords(settings, opts=child_opts(self))
        self.network, self.certs, self.passwords = network, certs, passwords
        # coachdb:exporter only: the monitoring role's password and init script (off, the
        # uploads and so the container stay exactly as before).
        monitor_password = None
        if cfg.exporter is not None:
            monitor_password = exporter.monitor_password(settings, child_opts(self))
            passwords = {**passwords, initdb.MONITOR_ROLE: monitor_password}
        # The monitoring role's init script goes to both sides (the exporter follows activeSide).
        monitoring = [exporter.monitoring_upload()] if cfg.exporter is not None else []
        upgrade_password = None
        if cfg.green is not None:
            # logical replication from blue to green (coachdb_infra.docker.logical)
            upgrade_password = logical.upgrade_password(settings, self)
            blue_uploads = _uploads(
                settings,
                certs,
                passwords,
                logical.blue_uploads(settings, network, upgrade_password) + monitoring,
            )
        else:
            blue_uploads = _uploads(settings, certs, passwords, monitoring)

        # Blue/green only (existing single-side stacks keep their container as it is):
        # each side's socket directory on a volume of its own, for the data move.
        sockets: dict[str, docker.Volume] = {}
        if cfg.green is not None:
            for side, name in (
                ("blue", cfg.volume_name),
                ("green", cfg.green.volume_name),
            ):
                sockets[side] = _volume(
                    f"sockets-{side}", f"{name}{SOCKETS_SUFFIX}", settings, provider_opts
                )
        container = _container(
            "postgres",
            settings,
            cfg,
            image,
            volume,
            network,
            cfg.container_name,
            cfg.port,
            blue_uploads,
            provider_opts,
            sockets.get("blue"),
            logical_publisher=cfg.green is not None,
        )
        self.container = container
        active_port = cfg.port
        green_outputs: dict[str, pulumi.Input[object]] = {"active_side": "blue"}
        green_container: docker.Container | None = None
        if cfg.green is not None:
            green = cfg.green
            green_image = docker.RemoteImage(
                "postgres-image-green",
                name=green.image.reference,
                keep_locally=True,
                opts=provider_opts,
            )
            green_volume = _data_volume(
                "pgdata-green", green.volume_name, settings, cfg, provider_opts
            )
            green_container = _container(
                "postgres-green",
                settings,
                cfg,
                green_image,
                green_volume,
                network,
                green.container_name,
                green.port,
                _uploads(
                    settings,
                    certs,
                    passwords,
                    logical.green_uploads(certs.ca_cert_pem) + monitoring,
                ),
                provider_opts,
                sockets["green"],
            )
            active_port = green.port if green.active else cfg.port
            green_outputs = {
                "active_side": "green" if green.active else "blue",
                "blue_port": cfg.port,
                "green_port": green.port,
                "green_major": green.major,
                "green_container_name": green_container.name,
                "green_volume_name": green_volume.name,
                "green_image": green.image.reference,
                "blue_socket_volume": sockets["blue"].name,
                "green_socket_volume": sockets["green"].name,
                # logical mode: green's subscription dials blue with these (docs/upgrade.md)
                "upgrade_publisher": logical.publisher_conninfo(
                    cfg.container_name, settings.database
                ),
                "upgrade_password": upgrade_password,
                # the application's env file for green before the switch: `coachdb check
                # --strict` on the new side is part of the verification (docs/upgrade.md)
                "green_app_env": app_env(
                    APP_ROLE,
                    passwords[APP_ROLE],
                    settings.host,
                    green.port,
                    settings.database,
                    settings.ca_cert_path,
                ),
            }

        self.active_port = active_port
        exporter_outputs: dict[str, pulumi.Input[object]] = {}
        if cfg.exporter is not None and monitor_password is not None:
            active = cfg.green if cfg.green is not None and cfg.green.active else None
            bind = cfg.exporter.bind_address
            self.exporter = exporter.declare(
                cfg,
                cfg.exporter,
                network=network,
                certs=certs,
                password=monitor_password,
                server_host=active.container_name if active else cfg.container_name,
                server=green_container if active and green_container else container,
                labels=_labels(settings, "exporter"),
                opts=provider_opts,
            )
            exporter_outputs = {
                "exporter_container_name": self.exporter.name,
                "exporter_url": f"http://{f'[{bind}]' if ':' in bind else bind}:"
                f"{cfg.exporter.port}/metrics",
            }
        ca_path = settings.ca_cert_path
        return {
            "host": settings.host,
            "port": active_port,
            "database": settings.database,
            "app_user": APP_ROLE,
            "container_name": container.name,
            "volume_name": volume.name,
            **green_outputs,
            **exporter_outputs,
            "ca_certificate": certs.ca_cert_pem,
            "ca_cert_path": ca_path,
            "database_url": database_url(
                APP_ROLE,
                passwords[APP_ROLE],
                settings.host,
                active_port,
                settings.database,
                ca_path,
            ),
            "app_env": app_env(
                APP_ROLE,
                passwords[APP_ROLE],
                settings.host,
                active_port,
                settings.database,
                ca_path,
            ),
            "migrator_database_url": database_url(
                MIGRATOR_ROLE,
                passwords[MIGRATOR_ROLE],
                settings.host,
                active_port,
                settings.database,
                ca_path,
            ),
        }


def deploy_docker(settings: Settings) -> Mapping[str, pulumi.Input[object]]:
    """Read the Docker keys, declare the component; return the stack outputs.

    The keys are all checked before the first resource is declared.
    """
    cfg = load_settings(settings)
    return DockerDatabase(COMPONENT_NAME, settings, cfg).outputs
