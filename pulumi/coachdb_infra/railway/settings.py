"""Settings of the Railway target: the ``coachdb:railway*`` keys (and its image).

Why a module of its own: the token, project, environment, service and backup
keys mean nothing to the Docker target. They are read and checked here before
any Railway resource is declared; errors name the stack key
(:class:`coachdb_infra.common.config.ConfigError`). Docs: docs/deploy-railway.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi

from coachdb_infra.common import config as cfg

from .client import DEFAULT_ENDPOINT, TOKEN_KINDS
from .providers import BACKUP_KINDS

_SERVICE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,61}[a-z0-9]$")


@dataclass(frozen=True)
class RailwayGreen:
    """Blue/green upgrade: a second service on the newer major, with its own volume.

    ``active`` says which service the connection outputs point at; the data moves with
    ``python -m coachdb.upgrade`` (docs/upgrade.md, "Railway").
    """

    major: int
    image: str
    service_name: str
    active: bool


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
    green: RailwayGreen | None = None


def load(common: cfg.Settings) -> RailwaySettings:
    """Read and validate the Railway keys; ConfigError names the key and the fix."""
    stack = common.stack
    # no settings hook on Railway (the bootstrap's settings are the profile's):
    # coachdb:serverSettings is refused here rather than silently ignored
    cfg.read_server_settings("railway", supported=False)
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
    image = cfg.read_image("image", common.postgres_major)
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
    green = None
    choice = cfg.read_green(common.postgres_major)
    if choice is not None:
        green_name = f"{service_name}-{choice.major}"
        if not _SERVICE_NAME.match(green_name):
            raise cfg.ConfigError(
                "railwayServiceName",
                f"the green service name {green_name!r} is not a usable private DNS name",
                "pulumi config set coachdb:railwayServiceName postgres",
            )
        green = RailwayGreen(
            major=choice.major,
            image=choice.image.reference,
            service_name=green_name,
            active=choice.active,
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
        green=green,
    )
