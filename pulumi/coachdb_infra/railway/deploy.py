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
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from coachdb import profile
from coachdb_infra import config as cfg
from coachdb_infra import initdb
from coachdb_infra.passwords import role_passwords
from coachdb_infra.tls import issue

from .bootstrap import START_COMMAND, container_variables
from .client import DEFAULT_ENDPOINT, TOKEN_KINDS
from .database import RailwayRoleModel, RailwayRoleModelArgs
from .providers import (
    BACKUP_KINDS,
    RailwayApiArgs,
    RailwayDeployment,
    RailwayDeploymentArgs,
    RailwayEnvironment,
    RailwayEnvironmentArgs,
    RailwayProject,
    RailwayProjectArgs,
    RailwayService,
    RailwayServiceArgs,
    RailwayTcpProxy,
    RailwayTcpProxyArgs,
    RailwayVariables,
    RailwayVariablesArgs,
    RailwayVolume,
    RailwayVolumeArgs,
)

DATA_MOUNT = "/var/lib/postgresql/data"
PGDATA = f"{DATA_MOUNT}/pgdata"
PG_PORT = 5432
SUPERUSER = "postgres"
INITDB_ARGS = "--encoding=UTF8 --locale=C.UTF-8 --data-checksums"
_SERVICE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,61}[a-z0-9]$")


@dataclass(frozen=True)
class RailwaySettings:
    """Railway-specific keys (``coachdb:railway*``); see docs/deploy-railway.md."""

    token: pulumi.Output[str]
    token_kind: str
    project_id: str | None
    project_name: str
    workspace_id: str | None
    environment: str
    service_name: str
    public_proxy: bool
    region: str | None
    endpoint: str
    deploy_timeout: int
    image: str
    protect_volume: bool
    backup_schedules: list[str]


def load_settings(stack: str) -> RailwaySettings:
    """Read and validate the Railway keys; ConfigError names the key and the fix."""
    token = cfg.read_secret(
        "railwayToken", required=True, why=" for target railway (see docs/deploy-railway.md)"
    )
    assert token is not None
    kind = cfg.read_choice("railwayTokenKind", TOKEN_KINDS, "account")
    project_id = cfg.read_str("railwayProjectId")
    if kind == "project" and not project_id:
        raise cfg.ConfigError(
            "railwayProjectId",
            "is required with a project token (a project token cannot create projects)",
            "pulumi config set coachdb:railwayProjectId <id from the project's Settings page>",
        )
    service_name = cfg.read_str("railwayServiceName", "postgres") or "postgres"
    if not _SERVICE_NAME.match(service_name):
        raise cfg.ConfigError(
            "railwayServiceName",
            f"{service_name!r} is not usable as a private DNS name (<name>.railway.internal)",
            "pulumi config set coachdb:railwayServiceName postgres (a-z, 0-9, -)",
        )
    endpoint = cfg.read_str("railwayApiEndpoint", DEFAULT_ENDPOINT) or DEFAULT_ENDPOINT
    if not endpoint.startswith("https://") and not endpoint.startswith("http://127.0.0.1"):
        raise cfg.ConfigError(
            "railwayApiEndpoint",
            "must be an https:// URL (the token travels in its headers)",
            f"pulumi config rm coachdb:railwayApiEndpoint (default {DEFAULT_ENDPOINT})",
        )
    image = cfg.read_image("image")
    schedules = (
        cfg.read_list("railwayBackupSchedules")
        if cfg.read_str("railwayBackupSchedules") is not None
        else ["DAILY", "WEEKLY"]
    )
    bad = [kind for kind in schedules if kind not in BACKUP_KINDS]
    if bad:
        raise cfg.ConfigError(
            "railwayBackupSchedules",
            f"has unknown schedule(s) {bad}; Railway offers {', '.join(BACKUP_KINDS)}",
            "pulumi config set --path 'coachdb:railwayBackupSchedules[0]' DAILY "
            "(or '[]' as the value to turn volume backups off)",
        )
    return RailwaySettings(
        token=token,
        token_kind=kind,
        project_id=project_id,
        project_name=cfg.read_str("railwayProjectName", f"coachdb-{stack}") or f"coachdb-{stack}",
        workspace_id=cfg.read_str("railwayWorkspaceId"),
        environment=cfg.read_str("railwayEnvironment", "production") or "production",
        service_name=service_name,
        public_proxy=cfg.read_bool("railwayPublicProxy", True),
        region=cfg.read_str("railwayRegion"),
        endpoint=endpoint,
        deploy_timeout=cfg.read_int("railwayDeployTimeout", 900, 60, 3600),
        image=image.reference,
        protect_volume=cfg.read_bool("protectVolume", True),
        backup_schedules=schedules,
    )


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


def deploy_railway(settings: cfg.Settings) -> dict[str, pulumi.Input[object]]:
    """Declare the Railway resources for ``settings`` and return the stack outputs."""
    rw = load_settings(settings.stack)
    api = RailwayApiArgs(
        token=rw.token, token_kind=rw.token_kind, endpoint=rw.endpoint, api_timeout=30.0
    )

    project = RailwayProject(
        "railway-project",
        RailwayProjectArgs(
            api=api,
            name=rw.project_name,
            description="PostgreSQL 14 for Elite Trading Coach AI (managed by Pulumi)",
            workspace_id=rw.workspace_id,
            adopt_id=rw.project_id,
        ),
    )
    environment = RailwayEnvironment(
        "railway-environment",
        RailwayEnvironmentArgs(
            api=api,
            project_id=project.project_id,
            name=rw.environment,
            project_environments=project.environment_ids,
        ),
    )
    service = RailwayService(
        "railway-postgres",
        RailwayServiceArgs(
            api=api,
            project_id=project.project_id,
            environment_id=environment.environment_id,
            name=rw.service_name,
            image=rw.image,
            start_command=START_COMMAND,
            region=rw.region,
        ),
    )
    volume = RailwayVolume(
        "railway-pgdata",
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
        opts=pulumi.ResourceOptions(protect=rw.protect_volume),
    )
    proxy = None
    if rw.public_proxy:
        proxy = RailwayTcpProxy(
            "railway-tcp-proxy",
            RailwayTcpProxyArgs(
                api=api,
                environment_id=environment.environment_id,
                service_id=service.service_id,
                application_port=PG_PORT,
            ),
        )

    # Railway's RAILWAY_PRIVATE_DOMAIN, read back by the service resource: a
    # rename in the dashboard shows up as a change here, not as a silent mismatch
    private_host: pulumi.Output[str] = service.private_domain
    # the proxy's domain is known only once the proxy exists
    proxy_domain: list[pulumi.Input[str]] = [proxy.domain] if proxy is not None else []
    certs = issue(
        "railway",
        common_name=private_host,
        sans=[private_host, *proxy_domain, "localhost", *settings.extra_sans],
        cert_validity_days=settings.cert_validity_days,
        ca_validity_days=settings.ca_validity_days,
        ca_common_name=f"coachdb {settings.stack} Railway PostgreSQL CA",
    )

    passwords = role_passwords(settings, name_prefix="railway-")
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
    app_role = cfg.PASSWORD_KEYS["appPassword"]
    private_url = database_url(
        app_role, passwords[app_role], private_host, PG_PORT, settings.database
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
        "railway-variables",
        RailwayVariablesArgs(
            api=api,
            project_id=project.project_id,
            environment_id=environment.environment_id,
            service_id=service.service_id,
            variables=variable_values,
        ),
    )
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
    deployment = RailwayDeployment(
        "railway-deployment",
        RailwayDeploymentArgs(
            api=api,
            environment_id=environment.environment_id,
            service_id=service.service_id,
            trigger=variable_values.apply(lambda values: _digest(values, rw.image)),
            wait_seconds=rw.deploy_timeout,
            probe=probe,
        ),
        opts=pulumi.ResourceOptions(depends_on=[service_variables, volume]),
    )

    outputs: dict[str, pulumi.Input[object]] = {
        "target": "railway",
        "railway_project_id": project.project_id,
        "railway_environment_id": environment.environment_id,
        "railway_service_id": service.service_id,
        "private_host": private_host,
        "port": PG_PORT,
        "database": settings.database,
        "app_user": app_role,
        "ca_certificate": certs.ca_cert_pem,
        "database_url": private_url,
    }
    if proxy is not None:
        outputs["public_host"] = proxy.domain
        outputs["public_port"] = proxy.proxy_port
        outputs["database_public_url"] = database_url(
            app_role, passwords[app_role], proxy.domain, proxy.proxy_port, settings.database
        )
        # the migrator's URL (secret): `sqitch deploy` runs the schema plan with it
        migrator = cfg.PASSWORD_KEYS["migratorPassword"]
        outputs["migrator_public_url"] = database_url(
            migrator, passwords[migrator], proxy.domain, proxy.proxy_port, settings.database
        )
        role_model = RailwayRoleModel(
            "railway-role-model",
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
            opts=pulumi.ResourceOptions(depends_on=[deployment]),
        )
        outputs["role_model_applied"] = role_model.id.apply(lambda _: True)
    else:
        pulumi.log.info(
            "railwayPublicProxy is off: the role model is applied by the container's init "
            "script at first boot only; see docs/deploy-railway.md to re-apply it."
        )
    return outputs
