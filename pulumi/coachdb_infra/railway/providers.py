"""Pulumi dynamic providers for the Railway objects a PostgreSQL service needs.

There is no Railway provider for Pulumi (or Terraform, officially), so each
object is a ``pulumi.dynamic.ResourceProvider`` speaking the GraphQL API
through :class:`RailwayClient`. Rules every provider here follows:

* ``diff`` compares only the inputs that matter; an unchanged ``pulumi up``
  therefore sends no mutation (tests count them against a fake server).
* Credentials (``token``, ``token_kind``, ``endpoint``, ``api_timeout``) are
  inputs so destroy works from state alone, but a change to them is an update
  that sends nothing: it only refreshes the state (e.g. after token rotation).
* The client is built inside each method: providers are pickled into state and
  must hold no live session and no secret of their own.
* Anything secret (token, variable values) is listed in
  ``additional_secret_outputs`` by the resource classes; providers return plain
  values because returning ``pulumi.secret`` from ``create`` fails.
* Objects adopted rather than created (an existing project, the project's
  default environment) are never deleted by ``pulumi destroy``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

from . import documents as gql
from .client import (
    DEFAULT_ENDPOINT,
    TOKEN_KINDS,
    RailwayClient,
    RailwayError,
    RailwayNotFound,
)

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # pulumi.runtime.rpc.UNKNOWN
API_KEYS = ("token", "token_kind", "endpoint", "api_timeout")
SECRET_API_OUTPUTS = ["token"]


CLIENT_TUNING: dict[str, Any] = {}
"""Extra RailwayClient arguments (tests shorten the backoff here; empty in production)."""


def client_from(props: Mapping[str, Any]) -> RailwayClient:
    """Build a client from a resource's credential inputs (inside the method: pickling)."""
    return RailwayClient(
        token=str(props.get("token") or ""),
        token_kind=str(props.get("token_kind") or "account"),
        endpoint=str(props.get("endpoint") or DEFAULT_ENDPOINT),
        timeout=float(props.get("api_timeout") or 30.0),
        **CLIENT_TUNING,
    )


PROGRAM_DIR = str(Path(__file__).resolve().parents[2])


def portable_reduce(obj: object) -> tuple[Any, tuple[str]]:
    """Pickle a provider as "import it from the program directory", builtins only.

    Pulumi pickles providers into the state with dill, by reference for classes
    of an importable module; the dynamic-provider host that unpickles them runs
    without the program's ``sys.path``. The reconstructor therefore puts the
    program directory (as recorded, and the host's working directory, which the
    CLI sets to the program directory) on ``sys.path`` before importing.
    """
    cls = type(obj)
    code = (
        f"__import__('sys').path.extend(p for p in ({PROGRAM_DIR!r}, __import__('os').getcwd()) "
        "if p not in __import__('sys').path) "
        f"or getattr(__import__('importlib').import_module({cls.__module__!r}), {cls.__name__!r})()"
    )
    return (eval, (code,))


class _RailwayProvider(ResourceProvider):
    """Shared check/diff logic: subclasses list their fields and immutable fields."""

    required: ClassVar[tuple[str, ...]] = ()
    fields: ClassVar[tuple[str, ...]] = ()
    replace_on: ClassVar[tuple[str, ...]] = ()

    def __reduce__(self):
        return portable_reduce(self)

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = []
        for key in (*self.required, "token"):
            value = news.get(key)
            if value is None or value == "":
                failures.append(CheckFailure(key, f"{key} is required"))
        kind = news.get("token_kind")
        if kind not in (*TOKEN_KINDS, UNKNOWN):
            failures.append(
                CheckFailure("token_kind", f"token_kind must be one of {', '.join(TOKEN_KINDS)}")
            )
        return CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [key for key in self.fields if olds.get(key) != news.get(key)]
        replaces = [key for key in changed if key in self.replace_on]
        api_changed = any(olds.get(key) != news.get(key) for key in API_KEYS)
        return DiffResult(
            changes=bool(changed or api_changed),
            replaces=replaces,
            delete_before_replace=bool(replaces),
        )

    def _outs(self, props: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
        outs = {key: props.get(key) for key in (*API_KEYS, *self.fields)}
        outs.update(extra)
        return outs

    @staticmethod
    def _fields_equal(olds: Mapping[str, Any], news: Mapping[str, Any], fields) -> bool:
        """True when only credentials differ (the update then sends nothing)."""
        return all(olds.get(key) == news.get(key) for key in fields)


def _edges(connection: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    return [edge["node"] for edge in (connection or {}).get("edges", [])]


# --- project --------------------------------------------------------------------


class ProjectProvider(_RailwayProvider):
    """A project, created here or adopted by id (adopted ones are never deleted)."""

    fields = ("name", "description", "workspace_id", "adopt_id")
    replace_on = ("workspace_id", "adopt_id")
    required = ("name",)

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        result = super().check(olds, news)
        if news.get("token_kind") == "project" and not news.get("adopt_id"):
            result.failures.append(
                CheckFailure(
                    "adopt_id",
                    "a project token cannot create projects: set railway:projectId to the "
                    "project the token belongs to, or use an account/workspace token",
                )
            )
        return result

    def create(self, props: dict[str, Any]) -> CreateResult:
        client = client_from(props)
        adopt_id = props.get("adopt_id")
        if adopt_id:
            try:
                project = client.execute(gql.PROJECT_GET, {"id": adopt_id}, op="project")["project"]
            except RailwayNotFound:
                raise RailwayNotFound(
                    f"Railway project id {adopt_id!r} (railway:projectId) does not exist or "
                    "this token cannot see it; check the id in the project's Settings page."
                ) from None
            return CreateResult(adopt_id, self._project_outs(props, project, adopted=True))
        project_input: dict[str, Any] = {"name": props["name"]}
        if props.get("description"):
            project_input["description"] = props["description"]
        if props.get("workspace_id"):
            project_input["workspaceId"] = props["workspace_id"]
        project = client.execute(gql.PROJECT_CREATE, {"input": project_input}, op="projectCreate")[
            "projectCreate"
        ]
        return CreateResult(project["id"], self._project_outs(props, project, adopted=False))

    def _project_outs(self, props, project, adopted: bool) -> dict[str, Any]:
        envs = {env["name"]: env["id"] for env in _edges(project.get("environments"))}
        return self._outs(
            props,
            project_id=project["id"],
            adopted=adopted,
            environment_ids=envs,
            live_name=project.get("name"),
        )

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        client = client_from(props)
        try:
            project = client.execute(gql.PROJECT_GET, {"id": id_}, op="project")["project"]
        except RailwayNotFound:
            return ReadResult(None, {})
        outs = dict(props)
        outs.update(
            self._project_outs(props, project, adopted=bool(props.get("adopted"))),
        )
        if not props.get("adopted"):
            outs["name"] = project.get("name")
            outs["description"] = project.get("description")
        return ReadResult(id_, outs)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        outs = dict(olds)
        outs.update(self._outs(news))
        if not olds.get("adopted") and not self._fields_equal(olds, news, self.fields):
            client = client_from(news)
            project_input = {"name": news["name"], "description": news.get("description") or ""}
            client.execute(
                gql.PROJECT_UPDATE, {"id": id_, "input": project_input}, op="projectUpdate"
            )
            outs["live_name"] = news["name"]
        return UpdateResult(outs)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        if props.get("adopted"):
            pulumi.log.info(f"Railway project {id_} was adopted, not created: leaving it in place")
            return
        try:
            client_from(props).execute(gql.PROJECT_DELETE, {"id": id_}, op="projectDelete")
        except RailwayNotFound:
            return


class RailwayProject(Resource, module="railway", name="Project"):
    """A Railway project (``adopt_id`` adopts an existing one instead of creating it)."""

    project_id: pulumi.Output[str]
    environment_ids: pulumi.Output[dict]
    adopted: pulumi.Output[bool]

    def __init__(self, name: str, props: dict[str, Any], opts=None) -> None:
        props = {"project_id": None, "environment_ids": None, "adopted": None, **props}
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=SECRET_API_OUTPUTS)
        )
        super().__init__(ProjectProvider(), name, props, opts)


# --- environment ------------------------------------------------------------------


class EnvironmentProvider(_RailwayProvider):
    """An environment by name; adopts an existing one of that name (e.g. ``production``)."""

    fields = ("project_id", "name")
    replace_on = ("project_id", "name")
    required = ("project_id", "name")

    def create(self, props: dict[str, Any]) -> CreateResult:
        client = client_from(props)
        project = client.execute(gql.PROJECT_GET, {"id": props["project_id"]}, op="project")[
            "project"
        ]
        for env in _edges(project.get("environments")):
            if env["name"] == props["name"]:
                return CreateResult(
                    env["id"], self._outs(props, environment_id=env["id"], adopted=True)
                )
        if props.get("token_kind") == "project":
            raise RailwayError(
                f"environment {props['name']!r} does not exist in project {props['project_id']} "
                "and a project token cannot create environments: set railway:environment to "
                "the environment the token belongs to."
            )
        env = client.execute(
            gql.ENVIRONMENT_CREATE,
            {"input": {"projectId": props["project_id"], "name": props["name"]}},
            op="environmentCreate",
        )["environmentCreate"]
        return CreateResult(env["id"], self._outs(props, environment_id=env["id"], adopted=False))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        try:
            env = client_from(props).execute(gql.ENVIRONMENT_GET, {"id": id_}, op="environment")[
                "environment"
            ]
        except RailwayNotFound:
            return ReadResult(None, {})
        outs = dict(props)
        outs.update(name=env["name"], project_id=env["projectId"], environment_id=env["id"])
        return ReadResult(id_, outs)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        # only credentials can change without replacement
        outs = dict(olds)
        outs.update(self._outs(news))
        return UpdateResult(outs)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        if props.get("adopted"):
            return
        try:
            client_from(props).execute(gql.ENVIRONMENT_DELETE, {"id": id_}, op="environmentDelete")
        except RailwayNotFound:
            return


class RailwayEnvironment(Resource, module="railway", name="Environment"):
    environment_id: pulumi.Output[str]
    adopted: pulumi.Output[bool]

    def __init__(self, name: str, props: dict[str, Any], opts=None) -> None:
        props = {"environment_id": None, "adopted": None, **props}
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=SECRET_API_OUTPUTS)
        )
        super().__init__(EnvironmentProvider(), name, props, opts)


# --- service ---------------------------------------------------------------------


class ServiceProvider(_RailwayProvider):
    """A service running an image, with its start command and restart policy.

    Created *without* a source first, then configured: a service created with an
    image deploys at once, before its variables exist, and the postgres entrypoint
    would fail without POSTGRES_PASSWORD. Deploys are the Deployment resource's job.
    """

    fields = ("project_id", "environment_id", "name", "image", "start_command", "region")
    replace_on = ("project_id", "environment_id")
    required = ("project_id", "environment_id", "name", "image")

    @staticmethod
    def _instance_input(props: Mapping[str, Any]) -> dict[str, Any]:
        instance: dict[str, Any] = {
            "source": {"image": props["image"]},
            "startCommand": props.get("start_command") or None,
            "restartPolicyType": "ON_FAILURE",
            "restartPolicyMaxRetries": 10,
            "numReplicas": 1,  # one writer per volume: PostgreSQL is not multi-replica
        }
        if props.get("region"):
            instance["region"] = props["region"]
        return instance

    def create(self, props: dict[str, Any]) -> CreateResult:
        client = client_from(props)
        service = client.execute(
            gql.SERVICE_CREATE,
            {
                "input": {
                    "projectId": props["project_id"],
                    "environmentId": props["environment_id"],
                    "name": props["name"],
                }
            },
            op="serviceCreate",
        )["serviceCreate"]
        try:
            client.execute(
                gql.SERVICE_INSTANCE_UPDATE,
                {
                    "serviceId": service["id"],
                    "environmentId": props["environment_id"],
                    "input": self._instance_input(props),
                },
                op="serviceInstanceUpdate",
            )
        except RailwayError:
            # keep create transactional: a half-configured service would be orphaned
            try:
                client.execute(
                    gql.SERVICE_DELETE,
                    {"id": service["id"], "environmentId": props["environment_id"]},
                    op="serviceDelete",
                )
            except RailwayError as cleanup:
                pulumi.log.warn(f"could not remove half-created service {service['id']}: {cleanup}")
            raise
        return CreateResult(
            service["id"],
            self._outs(props, service_id=service["id"], private_domain=_private_domain(props)),
        )

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        try:
            instance = client_from(props).execute(
                gql.SERVICE_INSTANCE_GET,
                {"serviceId": id_, "environmentId": props["environment_id"]},
                op="serviceInstance",
            )["serviceInstance"]
        except RailwayNotFound:
            return ReadResult(None, {})
        outs = dict(props)
        outs.update(
            name=instance["serviceName"],
            image=(instance.get("source") or {}).get("image"),
            start_command=instance.get("startCommand"),
        )
        return ReadResult(id_, outs)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        client = client_from(news)
        if olds.get("name") != news.get("name"):
            client.execute(
                gql.SERVICE_UPDATE, {"id": id_, "input": {"name": news["name"]}}, op="serviceUpdate"
            )
        instance_keys = ("image", "start_command", "region")
        if any(olds.get(key) != news.get(key) for key in instance_keys):
            client.execute(
                gql.SERVICE_INSTANCE_UPDATE,
                {
                    "serviceId": id_,
                    "environmentId": news["environment_id"],
                    "input": self._instance_input(news),
                },
                op="serviceInstanceUpdate",
            )
        outs = dict(olds)
        outs.update(self._outs(news, service_id=id_, private_domain=_private_domain(news)))
        return UpdateResult(outs)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        try:
            client_from(props).execute(
                gql.SERVICE_DELETE,
                {"id": id_, "environmentId": props["environment_id"]},
                op="serviceDelete",
            )
        except RailwayNotFound:
            return


def _private_domain(props: Mapping[str, Any]) -> str:
    """Railway's private DNS name for a service: ``<service name>.railway.internal``."""
    return f"{props['name']}.railway.internal"


class RailwayService(Resource, module="railway", name="Service"):
    service_id: pulumi.Output[str]
    private_domain: pulumi.Output[str]

    def __init__(self, name: str, props: dict[str, Any], opts=None) -> None:
        props = {"service_id": None, "private_domain": None, "region": None, **props}
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=SECRET_API_OUTPUTS)
        )
        super().__init__(ServiceProvider(), name, props, opts)


# --- volume ----------------------------------------------------------------------


BACKUP_KINDS = ("DAILY", "WEEKLY", "MONTHLY")


class VolumeProvider(_RailwayProvider):
    """The persistent volume holding PGDATA, attached to the service.

    ``backup_schedules`` (any of DAILY, WEEKLY, MONTHLY) turns on Railway's volume
    backups for the volume's instance in this environment; an empty list turns
    them off.
    """

    fields = ("project_id", "environment_id", "service_id", "mount_path", "backup_schedules")
    replace_on = ("project_id", "environment_id", "service_id")
    required = ("project_id", "environment_id", "service_id", "mount_path")

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        result = super().check(olds, news)
        schedules = news.get("backup_schedules") or []
        if schedules != UNKNOWN:
            bad = [kind for kind in schedules if kind not in BACKUP_KINDS]
            if bad:
                result.failures.append(
                    CheckFailure(
                        "backup_schedules", f"unknown schedule(s) {bad}; use {list(BACKUP_KINDS)}"
                    )
                )
            else:
                news["backup_schedules"] = sorted(set(schedules), key=BACKUP_KINDS.index)
        return result

    @staticmethod
    def _instance(client: RailwayClient, props: Mapping[str, Any], volume_id: str):
        env = client.execute(
            gql.VOLUME_INSTANCES_GET, {"environmentId": props["environment_id"]}, op="environment"
        )["environment"]
        for node in _edges(env.get("volumeInstances")):
            if node["volumeId"] == volume_id:
                return node
        return None

    def _set_schedules(self, client: RailwayClient, props: Mapping[str, Any], volume_id: str):
        instance = self._instance(client, props, volume_id)
        if instance is None:
            raise RailwayNotFound(
                f"volume {volume_id} has no instance in environment {props['environment_id']}"
            )
        client.execute(
            gql.VOLUME_BACKUP_SCHEDULES_SET,
            {
                "volumeInstanceId": instance["id"],
                "kinds": list(props.get("backup_schedules") or []),
            },
            op="volumeInstanceBackupScheduleUpdate",
        )

    def create(self, props: dict[str, Any]) -> CreateResult:
        client = client_from(props)
        volume = client.execute(
            gql.VOLUME_CREATE,
            {
                "input": {
                    "projectId": props["project_id"],
                    "environmentId": props["environment_id"],
                    "serviceId": props["service_id"],
                    "mountPath": props["mount_path"],
                }
            },
            op="volumeCreate",
        )["volumeCreate"]
        if props.get("backup_schedules"):
            self._set_schedules(client, props, volume["id"])
        return CreateResult(volume["id"], self._outs(props, volume_id=volume["id"]))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        client = client_from(props)
        node = self._instance(client, props, id_)
        if node is None:
            return ReadResult(None, {})
        schedules = client.execute(
            gql.VOLUME_BACKUP_SCHEDULES_GET,
            {"volumeInstanceId": node["id"]},
            op="volumeInstanceBackupScheduleList",
        )["volumeInstanceBackupScheduleList"]
        outs = dict(props)
        outs.update(
            mount_path=node["mountPath"],
            service_id=node.get("serviceId"),
            backup_schedules=sorted({item["kind"] for item in schedules}, key=BACKUP_KINDS.index),
        )
        return ReadResult(id_, outs)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        client = None
        if olds.get("mount_path") != news.get("mount_path"):
            client = client_from(news)
            client.execute(
                gql.VOLUME_INSTANCE_UPDATE,
                {
                    "volumeId": id_,
                    "environmentId": news["environment_id"],
                    "input": {"mountPath": news["mount_path"]},
                },
                op="volumeInstanceUpdate",
            )
        if (olds.get("backup_schedules") or []) != (news.get("backup_schedules") or []):
            self._set_schedules(client or client_from(news), news, id_)
        outs = dict(olds)
        outs.update(self._outs(news, volume_id=id_))
        return UpdateResult(outs)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        try:
            client_from(props).execute(gql.VOLUME_DELETE, {"volumeId": id_}, op="volumeDelete")
        except RailwayNotFound:
            return


class RailwayVolume(Resource, module="railway", name="Volume"):
    volume_id: pulumi.Output[str]

    def __init__(self, name: str, props: dict[str, Any], opts=None) -> None:
        props = {"volume_id": None, "backup_schedules": [], **props}
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=SECRET_API_OUTPUTS)
        )
        super().__init__(VolumeProvider(), name, props, opts)


# --- variables -------------------------------------------------------------------


class VariablesProvider(_RailwayProvider):
    """The service variables this program owns (others set in the dashboard are left alone).

    Upserts with ``skipDeploys`` so a change is applied by one explicit deploy
    (the Deployment resource) instead of one restart per variable.
    """

    fields = ("project_id", "environment_id", "service_id", "variables")
    replace_on = ("project_id", "environment_id", "service_id")
    required = ("project_id", "environment_id", "service_id", "variables")

    def _scope(self, props: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "projectId": props["project_id"],
            "environmentId": props["environment_id"],
            "serviceId": props["service_id"],
        }

    def _upsert(self, client: RailwayClient, props: Mapping[str, Any], values) -> None:
        client.execute(
            gql.VARIABLES_UPSERT,
            {
                "input": {
                    **self._scope(props),
                    "variables": dict(values),
                    "replace": False,
                    "skipDeploys": True,
                }
            },
            op="variableCollectionUpsert",
        )

    def create(self, props: dict[str, Any]) -> CreateResult:
        self._upsert(client_from(props), props, props["variables"])
        id_ = f"{props['service_id']}:{props['environment_id']}"
        return CreateResult(id_, self._outs(props))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        live = client_from(props).execute(
            gql.VARIABLES_GET,
            {
                "projectId": props["project_id"],
                "environmentId": props["environment_id"],
                "serviceId": props["service_id"],
            },
            op="variables",
        )["variables"]
        owned = {key: live[key] for key in (props.get("variables") or {}) if key in live}
        outs = dict(props)
        outs["variables"] = owned
        return ReadResult(id_, outs)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        old_vars: dict[str, str] = olds.get("variables") or {}
        new_vars: dict[str, str] = news.get("variables") or {}
        changed = {key: value for key, value in new_vars.items() if old_vars.get(key) != value}
        removed = [key for key in old_vars if key not in new_vars]
        client = None
        if changed:
            client = client_from(news)
            self._upsert(client, news, changed)
        for key in removed:
            client = client or client_from(news)
            try:
                client.execute(
                    gql.VARIABLE_DELETE,
                    {"input": {**self._scope(news), "name": key}},
                    op="variableDelete",
                )
            except RailwayNotFound:
                continue
        outs = dict(olds)
        outs.update(self._outs(news))
        return UpdateResult(outs)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        client = client_from(props)
        for key in props.get("variables") or {}:
            try:
                client.execute(
                    gql.VARIABLE_DELETE,
                    {"input": {**self._scope(props), "name": key}},
                    op="variableDelete",
                )
            except RailwayNotFound:
                return  # the service (and with it every variable) is already gone


class RailwayVariables(Resource, module="railway", name="Variables"):
    variables: pulumi.Output[dict]

    def __init__(self, name: str, props: dict[str, Any], opts=None) -> None:
        opts = pulumi.ResourceOptions.merge(
            opts,
            pulumi.ResourceOptions(additional_secret_outputs=[*SECRET_API_OUTPUTS, "variables"]),
        )
        super().__init__(VariablesProvider(), name, props, opts)


# --- TCP proxy -------------------------------------------------------------------


class TcpProxyProvider(_RailwayProvider):
    """Railway's public TCP proxy (``<name>.proxy.rlwy.net:<port>``) to the service."""

    fields = ("environment_id", "service_id", "application_port")
    replace_on = fields
    required = fields

    def create(self, props: dict[str, Any]) -> CreateResult:
        proxy = client_from(props).execute(
            gql.TCP_PROXY_CREATE,
            {
                "input": {
                    "environmentId": props["environment_id"],
                    "serviceId": props["service_id"],
                    "applicationPort": int(props["application_port"]),
                }
            },
            op="tcpProxyCreate",
        )["tcpProxyCreate"]
        return CreateResult(
            proxy["id"], self._outs(props, domain=proxy["domain"], proxy_port=proxy["proxyPort"])
        )

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        proxies = client_from(props).execute(
            gql.TCP_PROXIES_GET,
            {"serviceId": props["service_id"], "environmentId": props["environment_id"]},
            op="tcpProxies",
        )["tcpProxies"]
        for proxy in proxies:
            if proxy["id"] == id_:
                outs = dict(props)
                outs.update(
                    domain=proxy["domain"],
                    proxy_port=proxy["proxyPort"],
                    application_port=proxy["applicationPort"],
                )
                return ReadResult(id_, outs)
        return ReadResult(None, {})

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        outs = dict(olds)
        outs.update(self._outs(news, domain=olds.get("domain"), proxy_port=olds.get("proxy_port")))
        return UpdateResult(outs)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        try:
            client_from(props).execute(gql.TCP_PROXY_DELETE, {"id": id_}, op="tcpProxyDelete")
        except RailwayNotFound:
            return


class RailwayTcpProxy(Resource, module="railway", name="TcpProxy"):
    domain: pulumi.Output[str]
    proxy_port: pulumi.Output[int]

    def __init__(self, name: str, props: dict[str, Any], opts=None) -> None:
        props = {"domain": None, "proxy_port": None, **props}
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=SECRET_API_OUTPUTS)
        )
        super().__init__(TcpProxyProvider(), name, props, opts)


# --- deployment ------------------------------------------------------------------

_FAILED = {"FAILED", "CRASHED", "REMOVED", "SKIPPED"}


class DeploymentProvider(_RailwayProvider):
    """Deploys the service when ``trigger`` changes and waits until it is running.

    ``trigger`` is a digest of everything the container sees (image, start
    command, variables); variables are upserted with ``skipDeploys`` so this is
    the single restart per change. Deleting it deletes nothing on Railway.
    """

    fields = ("environment_id", "service_id", "trigger", "wait_seconds")
    replace_on = ("environment_id", "service_id")
    required = ("environment_id", "service_id", "trigger")
    poll_interval: float = 5.0

    def _deploy(self, props: Mapping[str, Any]) -> dict[str, Any]:
        client = client_from(props)
        deployment_id = client.execute(
            gql.SERVICE_INSTANCE_DEPLOY,
            {"serviceId": props["service_id"], "environmentId": props["environment_id"]},
            op="serviceInstanceDeployV2",
        )["serviceInstanceDeployV2"]
        deadline = time.monotonic() + float(props.get("wait_seconds") or 900)
        status = "QUEUED"
        interval = self.poll_interval
        while True:
            status = client.execute(gql.DEPLOYMENT_GET, {"id": deployment_id}, op="deployment")[
                "deployment"
            ]["status"]
            if status == "SUCCESS":
                break
            if status in _FAILED:
                raise RailwayError(
                    f"Railway deployment {deployment_id} of service {props['service_id']} ended "
                    f"{status}: open the service's Deployments tab for its logs."
                )
            if time.monotonic() >= deadline:
                raise RailwayError(
                    f"Railway deployment {deployment_id} is still {status} after "
                    f"{props.get('wait_seconds') or 900}s; check its logs, then `pulumi up` again."
                )
            time.sleep(interval)
            # spare the hourly request budget on slow starts: 5 s, 7.5 s, ... 15 s
            interval = min(interval * 1.5, self.poll_interval * 3)
        return {"deployment_id": deployment_id, "status": status}

    def create(self, props: dict[str, Any]) -> CreateResult:
        result = self._deploy(props)
        return CreateResult(result["deployment_id"], self._outs(props, **result))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        outs = dict(olds)
        if olds.get("trigger") != news.get("trigger"):
            outs.update(self._outs(news, **self._deploy(news)))
        else:
            outs.update(self._outs(news))
        return UpdateResult(outs)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_, dict(props))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return


class RailwayDeployment(Resource, module="railway", name="Deployment"):
    deployment_id: pulumi.Output[str]
    status: pulumi.Output[str]

    def __init__(self, name: str, props: dict[str, Any], opts=None) -> None:
        props = {"deployment_id": None, "status": None, **props}
        opts = pulumi.ResourceOptions.merge(
            opts,
            # the trigger is a digest of secret variables: keep even that encrypted
            pulumi.ResourceOptions(additional_secret_outputs=[*SECRET_API_OUTPUTS, "trigger"]),
        )
        super().__init__(DeploymentProvider(), name, props, opts)
