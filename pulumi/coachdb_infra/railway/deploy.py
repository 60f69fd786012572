"""The Railway target: ``deploy_railway(settings)`` declares every resource.

Graph (each arrow is a dependency):

    project -> environment -> service -> volume (PGDATA)
                                      -> TCP proxy (optional) -> server certificate
    CA + server certificate + passwords -> variables -> deployment -> role model

The server certificate waits for the TCP proxy because its SANs must include
the proxy's domain; the deployment waits for the variables (upserted without
a deploy) so one change means one restart; the role model is applied over the
public proxy with verify-full once the deployment reports SUCCESS. Without the
public proxy the container's init script applies the same role model at first
boot (see bootstrap.py and docs/deploy-railway.md).

Every resource is a child of one :class:`RailwayDatabase` component
(``coachdb:railway:Database``); each carries an alias to the top-level URN that
stacks created before the component recorded, so they are adopted, not replaced
(coachdb_infra.common.component).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from coachdb import profile
from coachdb_infra.common import config as cfg
from coachdb_infra.common import initdb
from coachdb_infra.common.component import child_opts
from coachdb_infra.common.passwords import role_passwords
from coachdb_infra.common.tls import ServerTls, issue

from .arguments import (
    RailwayApiArgs,
    RailwayDeploymentArgs,
    RailwayEnvironmentArgs,
    RailwayProjectArgs,
    RailwayServiceArgs,
    RailwayTcpProxyArgs,
    RailwayVariablesArgs,
    RailwayVolumeArgs,
)
from .bootstrap import START_COMMAND, container_variables
from .database import RailwayRoleModel, RailwayRoleModelArgs
from .providers import (
    RailwayDeployment,
    RailwayEnvironment,
    RailwayProject,
    RailwayService,
    RailwayTcpProxy,
    RailwayVariables,
    RailwayVolume,
)
from .settings import RailwaySettings
from .settings import load as load_settings

DATA_MOUNT = "/var/lib/postgresql/data"
PGDATA = f"{DATA_MOUNT}/pgdata"
PG_PORT = 5432
SUPERUSER = "postgres"
INITDB_ARGS = "--encoding=UTF8 --locale=C.UTF-8 --data-checksums"
COMPONENT_TYPE = "coachdb:railway:Database"
COMPONENT_NAME = "coachdb"


def database_url(
    user: str, password: pulumi.Output[str], host: pulumi.Input[str], port, database: str
) -> pulumi.Output[str]:
    """libpq URL with ``sslmode=verify-full``; the client supplies sslrootcert (the CA output)."""

    def build(args: list) -> str:
        pw, host_, port_ = args
        # numbers come back from state as floats (41234.0); the builder takes either
        return profile.database_url(
            user=user, password=pw, host=host_, port=port_, database=database
        )

    return pulumi.Output.secret(pulumi.Output.all(password, host, port).apply(build))


def _digest(values: Mapping[str, str], image: str) -> str:
    blob = json.dumps(
        {"image": image, "start": START_COMMAND, "vars": dict(values)}, sort_keys=True
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def deploy_railway(settings: cfg.Settings) -> Mapping[str, pulumi.Input[object]]:
    """Read the Railway keys, declare the component; return the stack outputs.

    The keys are all checked before the first resource is declared.
    """
    return RailwayDatabase(COMPONENT_NAME, settings, load_settings(settings)).outputs


class RailwayDatabase(pulumi.ComponentResource):
    """PostgreSQL as a Railway service: every resource of the target, as one component."""

    def __init__(
        self,
        name: str,
        settings: cfg.Settings,
        rw: RailwaySettings,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        self.outputs = _declare(self, settings, rw)
        self.register_outputs({})


def _declare(
    parent: pulumi.Resource, settings: cfg.Settings, rw: RailwaySettings
) -> dict[str, pulumi.Input[object]]:
    """The resource graph of the module docstring, every resource a child of ``parent``."""
    api = RailwayApiArgs(
        token=rw.token, token_kind=rw.token_kind, endpoint=rw.endpoint, api_timeout=30.0
    )

    project = RailwayProject(
        "railway-project",
        RailwayProjectArgs(
            api=api,
            name=rw.project_name,
            description=(
                f"PostgreSQL {settings.postgres_major} for Elite Trading Coach AI "
                "(managed by Pulumi)"
            ),
            workspace_id=rw.workspace_id,
            adopt_id=rw.project_id,
        ),
        opts=child_opts(parent),
    )
    environment = RailwayEnvironment(
        "railway-environment",
        RailwayEnvironmentArgs(
            api=api,
            project_id=project.project_id,
            name=rw.environment,
            project_environments=project.environment_ids,
        ),
        opts=child_opts(parent),
    )
    specs = [_SideSpec("", rw.service_name, rw.image, active=True)]
    if rw.green is not None:
        specs[0] = _SideSpec("", rw.service_name, rw.image, active=not rw.green.active)
        specs.append(
            _SideSpec("-green", rw.green.service_name, rw.green.image, active=rw.green.active)
        )
    sides = [_service_and_volume(parent, api, project, environment, rw, spec) for spec in specs]

    # One certificate for both sides of a blue/green upgrade (one CA the clients pin, so
    # the switch changes no client file): every private and proxy domain of every side.
    # A single-side stack's names are the same as before.
    names: list[pulumi.Input[str]] = []
    for side in sides:
        names += [side.private_host, *([side.proxy.domain] if side.proxy is not None else [])]
    certs = issue(
        "railway",
        common_name=sides[0].private_host,
        sans=[*names, "localhost", *settings.extra_sans],
        cert_validity_days=settings.cert_validity_days,
        ca_validity_days=settings.ca_validity_days,
        ca_common_name=f"coachdb {settings.stack} Railway PostgreSQL CA",
        opts=child_opts(parent),
    )

    passwords = role_passwords(settings, name_prefix="railway-", opts=child_opts(parent))
    login_roles = sorted(role for role in passwords if role != SUPERUSER)
    init_sql = pulumi.Output.all(*[passwords[r] for r in login_roles]).apply(
        lambda values: (
            initdb.role_model_sql(settings.database, settings.readonly_role)
            + "\n"
            + initdb.passwords_sql(
                initdb.verifiers_for(dict(zip(login_roles, values, strict=True)))
            )
        )
    )
    served = {
        side.spec.suffix: _serve(
            parent,
            api,
            project,
            environment,
            rw,
            settings,
            side,
            certs,
            passwords,
            init_sql,
            login_roles,
        )
        for side in sides
    }
    active = next(side for side in sides if side.spec.active)
    blue = sides[0]
    app_role = cfg.PASSWORD_KEYS["appPassword"]
    outputs: dict[str, pulumi.Input[object]] = {
        "target": "railway",
        "railway_project_id": project.project_id,
        "railway_environment_id": environment.environment_id,
        "railway_service_id": blue.service.service_id,
        "private_host": active.private_host,
        "port": PG_PORT,
        "database": settings.database,
        "app_user": app_role,
        "ca_certificate": certs.ca_cert_pem,
        "database_url": served[active.spec.suffix].private_url,
    }
    if rw.green is not None:
        green = sides[1]
        outputs.update(
            {
                "active_side": "green" if rw.green.active else "blue",
                "active_service_name": active.spec.service_name,
                "green_major": rw.green.major,
                "green_image": rw.green.image,
                "green_service_name": rw.green.service_name,
                "green_service_id": green.service.service_id,
                "blue_private_host": blue.private_host,
                "green_private_host": green.private_host,
            }
        )
    if active.proxy is not None:
        outputs["public_host"] = active.proxy.domain
        outputs["public_port"] = active.proxy.proxy_port
        outputs["database_public_url"] = database_url(
            app_role,
            passwords[app_role],
            active.proxy.domain,
            active.proxy.proxy_port,
            settings.database,
        )
        # the migrator's URL (secret): `sqitch deploy` runs the schema plan with it
        migrator = cfg.PASSWORD_KEYS["migratorPassword"]
        outputs["migrator_public_url"] = database_url(
            migrator,
            passwords[migrator],
            active.proxy.domain,
            active.proxy.proxy_port,
            settings.database,
        )
        outputs["role_model_applied"] = served[active.spec.suffix].role_model_applied
        if rw.green is not None:
            # the data move's two ends (docs/upgrade.md, "Railway"): no password, libpq
            # reads it from PGPASSFILE; the superuser logs in over verify-full TLS
            outputs["superuser_password"] = passwords[SUPERUSER]  # a secret, for PGPASSFILE
            for side in sides:
                assert side.proxy is not None
                color = "green" if side.spec.suffix else "blue"
                outputs[f"{color}_superuser_conninfo"] = pulumi.Output.all(
                    side.proxy.domain, side.proxy.proxy_port
                ).apply(
                    lambda args: (
                        f"host={args[0]} port={int(args[1])} user={SUPERUSER} dbname=postgres "
                        "sslmode=verify-full sslrootcert=ca.crt"
                    )
                )
    else:
        pulumi.log.info(
            "railwayPublicProxy is off: the role model is applied by the container's init "
            "script at first boot only; see docs/deploy-railway.md to re-apply it."
        )
    return outputs


@dataclass(frozen=True)
class _SideSpec:
    """One side of the stack: blue (``suffix`` "") or green ("-green", a newer major)."""

    suffix: str
    service_name: str
    image: str
    active: bool


@dataclass
class _Side:
    spec: _SideSpec
    service: RailwayService
    volume: RailwayVolume
    proxy: RailwayTcpProxy | None

    @property
    def private_host(self) -> pulumi.Output[str]:
        # Railway's RAILWAY_PRIVATE_DOMAIN, read back by the service resource: a
        # rename in the dashboard shows up as a change here, not as a silent mismatch
        return self.service.private_domain


@dataclass
class _Served:
    private_url: pulumi.Output[str]
    role_model_applied: pulumi.Output[bool] | None


def _service_and_volume(
    parent: pulumi.Resource,
    api: RailwayApiArgs,
    project: RailwayProject,
    environment: RailwayEnvironment,
    rw: RailwaySettings,
    spec: _SideSpec,
) -> _Side:
    """A side's service, its protected volume and (optionally) its TCP proxy."""
    service = RailwayService(
        f"railway-postgres{spec.suffix}",
        RailwayServiceArgs(
            api=api,
            project_id=project.project_id,
            environment_id=environment.environment_id,
            name=spec.service_name,
            image=spec.image,
            start_command=START_COMMAND,
            region=rw.region,
        ),
        opts=child_opts(parent),
    )
    volume = RailwayVolume(
        f"railway-pgdata{spec.suffix}",
        RailwayVolumeArgs(
            api=api,
            project_id=project.project_id,
            environment_id=environment.environment_id,
            service_id=service.service_id,
            mount_path=DATA_MOUNT,
            backup_schedules=rw.backup_schedules,
            region=rw.region,
        ),
        # `pulumi destroy` stops here until the volume is unprotected (docs: tearing down)
        opts=child_opts(parent, pulumi.ResourceOptions(protect=rw.protect_volume)),
    )
    proxy = None
    if rw.public_proxy:
        proxy = RailwayTcpProxy(
            f"railway-tcp-proxy{spec.suffix}",
            RailwayTcpProxyArgs(
                api=api,
                environment_id=environment.environment_id,
                service_id=service.service_id,
                application_port=PG_PORT,
            ),
            opts=child_opts(parent),
        )
    return _Side(spec, service, volume, proxy)


def _serve(
    parent: pulumi.Resource,
    api: RailwayApiArgs,
    project: RailwayProject,
    environment: RailwayEnvironment,
    rw: RailwaySettings,
    settings: cfg.Settings,
    side: _Side,
    certs: ServerTls,
    passwords: dict[str, pulumi.Output[str]],
    init_sql: pulumi.Output[str],
    login_roles: list[str],
) -> _Served:
    """A side's variables, deployment and (with a proxy) role model: the same on both sides
    but for the side's own private URL and image."""
    suffix = side.spec.suffix
    app_role = cfg.PASSWORD_KEYS["appPassword"]
    private_url = database_url(
        app_role, passwords[app_role], side.private_host, PG_PORT, settings.database
    )

    def variables(args: list) -> dict[str, str]:
        super_pw, cert_pem, key_pem, ca_pem, sql, url = args
        values = {
            "POSTGRES_USER": SUPERUSER,
            "POSTGRES_PASSWORD": super_pw,
            "POSTGRES_DB": settings.database,
            "POSTGRES_INITDB_ARGS": INITDB_ARGS,
            "PGDATA": PGDATA,
            "PGPORT": str(PG_PORT),
            "TZ": "UTC",
            # what other Railway services reference as ${{postgres.DATABASE_URL}}:
            # the least-privilege app role, private network, verify-full
            "DATABASE_URL": url,
        }
        values.update(
            container_variables(
                server_cert=cert_pem, server_key=key_pem, ca_cert=ca_pem, init_sql=sql
            )
        )
        return values

    variable_values = pulumi.Output.secret(
        pulumi.Output.all(
            passwords[SUPERUSER],
            certs.cert_pem,
            certs.key_pem,
            certs.ca_cert_pem,
            init_sql,
            private_url,
        ).apply(variables)
    )
    service_variables = RailwayVariables(
        f"railway-variables{suffix}",
        RailwayVariablesArgs(
            api=api,
            project_id=project.project_id,
            environment_id=environment.environment_id,
            service_id=side.service.service_id,
            variables=variable_values,
        ),
        opts=child_opts(parent),
    )
    proxy = side.proxy
    probe = None
    if proxy is not None:
        # the stability window proves PostgreSQL answers through the proxy (TLS + a query)
        probe = pulumi.Output.secret(
            pulumi.Output.all(
                proxy.domain, proxy.proxy_port, certs.ca_cert_pem, passwords[SUPERUSER]
            ).apply(
                lambda args: {
                    "host": args[0],
                    "port": int(args[1]),
                    "ca_cert": args[2],
                    "user": SUPERUSER,
                    "password": args[3],
                }
            )
        )
    image = side.spec.image
    deployment = RailwayDeployment(
        f"railway-deployment{suffix}",
        RailwayDeploymentArgs(
            api=api,
            environment_id=environment.environment_id,
            service_id=side.service.service_id,
            trigger=variable_values.apply(lambda values: _digest(values, image)),
            wait_seconds=rw.deploy_timeout,
            probe=probe,
        ),
        opts=child_opts(
            parent, pulumi.ResourceOptions(depends_on=[service_variables, side.volume])
        ),
    )
    if proxy is None:
        return _Served(private_url, None)
    role_model = RailwayRoleModel(
        f"railway-role-model{suffix}",
        RailwayRoleModelArgs(
            host=proxy.domain,
            port=proxy.proxy_port,
            superuser=SUPERUSER,
            superuser_password=passwords[SUPERUSER],
            ca_cert=certs.ca_cert_pem,
            params={
                "database": settings.database,
                "readonly_enabled": settings.readonly_role,
            },
            passwords=pulumi.Output.secret(
                pulumi.Output.all(*[passwords[r] for r in login_roles]).apply(
                    lambda values: dict(zip(login_roles, values, strict=True))
                )
            ),
            wait_seconds=600,
            deployment_id=deployment.deployment_id,
        ),
        opts=child_opts(parent, pulumi.ResourceOptions(depends_on=[deployment])),
    )
    return _Served(private_url, role_model.id.apply(lambda _: True))
