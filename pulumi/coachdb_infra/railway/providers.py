"""Pulumi dynamic providers for the Railway objects a PostgreSQL service needs.

There is no Railway provider for Pulumi (or Terraform, officially), so each
object is a ``pulumi.dynamic.ResourceProvider`` speaking the GraphQL API
through :class:`RailwayClient`. Rules every provider here follows:

* **Identity, not memory.** Every object has an identity the program can look
  up: project by name in its workspace, environment by name in the project,
  service by name in the environment, volume by service and mount path, proxy
  by service instance and application port, deployment as "a deployment of
  this service that was not there before". A create looks first and adopts what
  it finds; a mutation whose answer was lost (:class:`RailwayOutcomeUnknown`)
  is never re-sent: the provider looks again (tolerating Railway's propagation
  lag for ``TUNING["lag_seconds"]``) and carries on with what it finds.
* **Gone means listed as gone.** ``read`` drops an object from state only when
  a *successful* listing of its parent has not shown it for the whole lag
  window; errors (auth, network, anything) are raised, never read as "gone".
  ``delete`` treats an error as success only when the listing proves the object
  is gone.
* **Atomic creates.** A service or volume whose configuration fails right after
  creation is removed again (and if that fails too, the next ``pulumi up``
  finds it by identity instead of making another).
* ``diff`` compares only the inputs that matter; an unchanged ``pulumi up``
  therefore sends no request (tests count them against a fake server).
* Credentials (``token``, ``token_kind``, ``endpoint``, ``api_timeout``) are
  inputs so destroy works from state alone; a change to them is an update that
  sends nothing.
* The client is built inside each method: providers are pickled into state by
  reference to their class (an importable module) and hold no live session
  and no secret of their own.
* Every secret a call holds is registered with the client's scrubber first, so
  no error or log line can carry it; each call logs how many API requests it
  used and the run's total (Railway's Free plan allows 100 an hour).
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar, Generic, TypeVar

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
from .arguments import (
    API_KEYS,
    RailwayApiArgs,
    RailwayDeploymentArgs,
    RailwayEnvironmentArgs,
    RailwayProjectArgs,
    RailwayServiceArgs,
    RailwayTcpProxyArgs,
    RailwayVariablesArgs,
    RailwayVolumeArgs,
    decode,
    encode,
)
from .client import (
    DEFAULT_ENDPOINT,
    KEY_DEPLOY_TIMEOUT,
    KEY_ENVIRONMENT,
    KEY_PROJECT_ID,
    KEY_WORKSPACE_ID,
    LOG,
    SCRUBBER,
    TOKEN_KINDS,
    RailwayAuthError,
    RailwayClient,
    RailwayError,
    RailwayNotFound,
    RailwayOutcomeUnknown,
    edges,
    run_request_count,
)

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # pulumi.runtime.rpc.UNKNOWN
SECRET_API_OUTPUTS = ["token"]

CLIENT_TUNING: dict[str, Any] = {}
"""Extra RailwayClient arguments (tests shorten the backoff here; empty in production)."""

TUNING: dict[str, float] = {
    "lag_seconds": 60.0,  # how long Railway may take to list a new / still list a gone object
    "lag_poll": 3.0,  # interval of those lookups
    "stable_seconds": 45.0,  # deployment must stay SUCCESS this long
    "poll_interval": 5.0,  # deployment status polls (grows to 3x)
}
"""Timing of lookups and deployment polling (tests shrink it; invariants hold for any)."""

LOG_LINES = 20
_SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|KEY|DATABASE_URL|INIT_SQL", re.I)
T = TypeVar("T")
A = TypeVar("A")


def client_from(props: Mapping[str, Any]) -> RailwayClient:
    """Build a client from a resource's credential inputs (inside the method: pickling)."""
    api = decode(RailwayApiArgs, {"token": "", **props})
    return RailwayClient(
        token=str(api.token or ""),
        token_kind=api.token_kind or "account",
        endpoint=api.endpoint or DEFAULT_ENDPOINT,
        timeout=api.api_timeout or 30.0,
        **CLIENT_TUNING,
    )


def register_prop_secrets(props: Mapping[str, Any]) -> None:
    """Tell the scrubber every secret a call's inputs hold."""
    SCRUBBER.register(props.get("token"))
    target = props.get("probe")
    if isinstance(target, Mapping):
        SCRUBBER.register(target.get("password"))
    variables = props.get("variables")
    if isinstance(variables, Mapping):
        SCRUBBER.register(
            *(value for name, value in variables.items() if _SECRET_NAME.search(str(name)))
        )


def wait_for(find: Callable[[], T | None], *, present: bool = True) -> T | None:
    """Poll ``find`` until it returns something (``present``) or nothing, within the lag window.

    Returns the last result: for ``present=True`` the object or ``None`` after
    the window; for ``present=False`` ``None`` once gone, else the object.
    """
    deadline = time.monotonic() + TUNING["lag_seconds"]
    while True:
        found = find()
        if (found is not None) == present:
            return found
        if time.monotonic() >= deadline:
            return found
        time.sleep(TUNING["lag_poll"])


def create_or_find(send: Callable[[], T], lookup: Callable[[], T | None], what: str) -> T:
    """Send a create; when its outcome is unknown, look the object up instead of re-sending.

    Only when the lookup has not shown the object for the whole lag window (so
    the lost request was not applied) is the create sent once more.
    """
    for attempt in (1, 2):
        try:
            return send()
        except RailwayOutcomeUnknown as exc:
            found = wait_for(lookup)
            if found is not None:
                return found
            if attempt == 2:
                raise RailwayOutcomeUnknown(
                    f"{exc}; {what} is still not listed after {TUNING['lag_seconds']:g}s. Run "
                    f"`pulumi up` again: it looks {what} up before creating it."
                ) from None
            LOG.warning("%s is not listed after a lost answer: sending the create again", what)
    raise AssertionError("unreachable")


class _RailwayProvider(ResourceProvider, Generic[A]):
    """Shared check/diff/guard logic: subclasses list their fields and immutable fields.

    The engine's entry points (create, read, update, delete) take Pulumi's property
    dicts; each converts them to the resource's typed arguments (``args_type``, see
    railway/arguments.py) before calling the subclass. ``state`` is the recorded
    property dict, for the outputs an earlier call stored (ids, domains, ``adopted``).
    """

    required: ClassVar[tuple[str, ...]] = ()
    fields: ClassVar[tuple[str, ...]] = ()
    replace_on: ClassVar[tuple[str, ...]] = ()
    kind: ClassVar[str] = "object"
    args_type: ClassVar[type[Any]]

    # -- engine entry points: every one runs inside _step --------------------------

    def create(self, props: dict[str, Any]) -> CreateResult:
        with self._step("create", props) as client:
            return self._create(client, decode(self.args_type, props))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with self._step("read", props) as client:
            return self._read(client, id_, decode(self.args_type, props), props)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        register_prop_secrets(olds)
        with self._step("update", news) as client:
            old, new = decode(self.args_type, olds), decode(self.args_type, news)
            return self._update(client, id_, old, new, olds)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        with self._step("delete", props) as client:
            self._delete(client, id_, decode(self.args_type, props), props)

    def _create(self, client: RailwayClient, args: A) -> CreateResult:
        raise NotImplementedError

    def _read(
        self, client: RailwayClient, id_: str, args: A, state: Mapping[str, Any]
    ) -> ReadResult:
        return ReadResult(id_, dict(state))

    def _update(
        self, client: RailwayClient, id_: str, old: A, new: A, state: Mapping[str, Any]
    ) -> UpdateResult:
        return UpdateResult({**state, **self._outs(new)})

    def _delete(self, client: RailwayClient, id_: str, args: A, state: Mapping[str, Any]) -> None:
        return

    @contextmanager
    def _step(self, action: str, props: Mapping[str, Any]) -> Iterator[RailwayClient]:
        register_prop_secrets(props)
        client = client_from(props)
        try:
            yield client
        except RailwayError:
            raise
        except Exception as exc:  # never let an unscrubbed message out
            raise RailwayError(
                f"Railway {self.kind} {action}: {type(exc).__name__}: {exc}"
            ) from None
        finally:
            if client.requests_sent:
                message = (
                    f"Railway API: {client.requests_sent} request(s) for {self.kind} {action}; "
                    f"{run_request_count()} so far in this run (Free plan: 100 an hour)"
                )
                LOG.info(message)
                pulumi.log.info(message)

    # -- check / diff -----------------------------------------------------------

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

    def _outs(self, args: A, **extra: Any) -> dict[str, Any]:
        """The state to record: the credentials, the resource's fields, and ``extra`` outputs."""
        props = encode(args)
        outs = {key: props.get(key) for key in (*API_KEYS, *self.fields)}
        outs.update(extra)
        return outs

    def _fields_equal(self, old: A, new: A) -> bool:
        """True when only credentials differ (the update then sends nothing)."""
        return all(getattr(old, key) == getattr(new, key) for key in self.fields)

    def _delete_verified(
        self,
        client: RailwayClient,
        send: Callable[[], object],
        listed: Callable[[], object | None],
        what: str,
    ) -> None:
        """Send a delete; an error counts as success only if the listing shows it gone."""
        try:
            send()
            return
        except RailwayAuthError:
            raise
        except RailwayError as exc:
            if wait_for(listed, present=False) is None:
                return
            raise RailwayError(f"could not delete Railway {what}: {exc}") from None


# --- typed resource arguments -----------------------------------------------------


def _secret_opts(opts: pulumi.ResourceOptions | None, *extra: str) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions.merge(
        opts, pulumi.ResourceOptions(additional_secret_outputs=[*SECRET_API_OUTPUTS, *extra])
    )


# --- project --------------------------------------------------------------------


class ProjectProvider(_RailwayProvider[RailwayProjectArgs]):
    """A project, created here (found again by name in its workspace) or adopted by id."""

    args_type = RailwayProjectArgs
    fields = ("name", "description", "workspace_id", "adopt_id")
    replace_on = ("workspace_id", "adopt_id")
    required = ("name",)
    kind = "project"

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        result = super().check(olds, news)
        if news.get("token_kind") == "project" and not news.get("adopt_id"):
            result.failures.append(
                CheckFailure(
                    "adopt_id",
                    f"a project token cannot create projects: set {KEY_PROJECT_ID} to the "
                    "project the token belongs to, or use an account/workspace token",
                )
            )
        return result

    def _create(self, client: RailwayClient, args: RailwayProjectArgs) -> CreateResult:
        adopt_id = args.adopt_id
        if adopt_id:
            try:
                project = client.execute(gql.PROJECT_GET, {"id": adopt_id}, op="project")["project"]
            except RailwayAuthError:
                raise
            except RailwayError as exc:
                raise RailwayNotFound(
                    f"Railway project id {adopt_id!r} ({KEY_PROJECT_ID}) does not exist or "
                    f"this token cannot see it ({exc}); check the id in the project's "
                    "Settings page."
                ) from None
            return CreateResult(adopt_id, self._project_outs(args, project, adopted=True))
        workspace_id = self._workspace(client, args)
        name = args.name

        def lookup() -> dict[str, Any] | None:
            return self._find_by_name(client, workspace_id, name)

        project = lookup()
        if project is None:
            project_input: dict[str, Any] = {"name": name}
            if args.description:
                project_input["description"] = args.description
            if workspace_id:
                project_input["workspaceId"] = workspace_id
            project = create_or_find(
                lambda: client.execute(
                    gql.PROJECT_CREATE, {"input": project_input}, op="projectCreate"
                )["projectCreate"],
                lookup,
                f"project {name!r}",
            )
        outs = self._project_outs(args, project, adopted=False)
        outs["live_workspace_id"] = workspace_id
        return CreateResult(project["id"], outs)

    @staticmethod
    def _workspace(client: RailwayClient, args: RailwayProjectArgs) -> str | None:
        """The workspace to create in: configured, or the token's only one."""
        if args.workspace_id:
            return args.workspace_id
        try:
            workspaces = client.execute(gql.WORKSPACES_LIST, op="me")["me"]["workspaces"]
        except RailwayAuthError:
            if args.api.is_kind("workspace"):
                raise RailwayError(
                    f"a workspace token cannot list workspaces: set {KEY_WORKSPACE_ID} to the "
                    "workspace the token belongs to (Workspace Settings -> General)."
                ) from None
            raise
        if len(workspaces) == 1:
            return str(workspaces[0]["id"])
        if not workspaces:
            return None
        names = ", ".join(f"{w['name']} ({w['id']})" for w in workspaces)
        raise RailwayError(
            f"the token sees {len(workspaces)} Railway workspaces ({names}): choose one with "
            f"`pulumi config set {KEY_WORKSPACE_ID} <id>`."
        )

    @staticmethod
    def _find_by_name(
        client: RailwayClient, workspace_id: str | None, name: str
    ) -> dict[str, Any] | None:
        projects = edges(
            client.execute(gql.PROJECTS_LIST, {"workspaceId": workspace_id}, op="projects")[
                "projects"
            ]
        )
        matches = [p for p in projects if p["name"] == name]
        if len(matches) > 1:
            ids = ", ".join(p["id"] for p in matches)
            raise RailwayError(
                f"{len(matches)} Railway projects are named {name!r} ({ids}): adopt the right "
                f"one with `pulumi config set {KEY_PROJECT_ID} <id>` or delete the others."
            )
        return matches[0] if matches else None

    def _project_outs(
        self, args: RailwayProjectArgs, project: Mapping[str, Any], adopted: bool
    ) -> dict[str, Any]:
        envs = {env["name"]: env["id"] for env in edges(project.get("environments"))}
        return self._outs(
            args,
            project_id=project["id"],
            adopted=adopted,
            environment_ids=envs,
            live_name=project.get("name"),
            live_workspace_id=project.get("workspaceId") or args.workspace_id,
        )

    @staticmethod
    def _known_workspace(args: RailwayProjectArgs, state: Mapping[str, Any]) -> str | None:
        """The workspace the project was found or made in (recorded), else the configured one."""
        return state.get("live_workspace_id") or args.workspace_id

    def _listed(
        self, client: RailwayClient, id_: str, workspace: str | None
    ) -> Callable[[], dict[str, Any] | None]:
        def listed() -> dict[str, Any] | None:
            nodes = edges(
                client.execute(gql.PROJECTS_LIST, {"workspaceId": workspace}, op="projects")[
                    "projects"
                ]
            )
            return next((p for p in nodes if p["id"] == id_), None)

        return listed

    def _read(self, client, id_, args: RailwayProjectArgs, state) -> ReadResult:
        adopted = bool(state.get("adopted"))
        try:
            project = client.execute(gql.PROJECT_GET, {"id": id_}, op="project")["project"]
        except RailwayAuthError:
            raise
        except RailwayError:
            # "gone" only if the workspace's listing does not show it for the lag window
            known_workspace = self._known_workspace(args, state)
            if args.api.is_kind("project") or not known_workspace:
                raise
            project = wait_for(self._listed(client, id_, known_workspace))
            if project is None:
                return ReadResult(None, {})
        outs = dict(state)
        outs.update(self._project_outs(args, project, adopted=adopted))
        if not adopted:
            outs["name"] = project.get("name")
        return ReadResult(id_, outs)

    def _update(self, client, id_, old, new: RailwayProjectArgs, state) -> UpdateResult:
        outs = {**state, **self._outs(new)}
        if not state.get("adopted") and not self._fields_equal(old, new):
            project_input = {"name": new.name, "description": new.description or ""}
            client.execute(
                gql.PROJECT_UPDATE, {"id": id_, "input": project_input}, op="projectUpdate"
            )
            outs["live_name"] = new.name
        return UpdateResult(outs)

    def _delete(self, client, id_, args: RailwayProjectArgs, state) -> None:
        if state.get("adopted"):
            pulumi.log.info(f"Railway project {id_} was adopted, not created: leaving it in place")
            return

        self._delete_verified(
            client,
            lambda: client.execute(gql.PROJECT_DELETE, {"id": id_}, op="projectDelete"),
            self._listed(client, id_, self._known_workspace(args, state)),
            f"project {id_}",
        )


class RailwayProject(Resource, module="railway", name="Project"):
    """A Railway project (``adopt_id`` adopts an existing one instead of creating it)."""

    project_id: pulumi.Output[str]
    environment_ids: pulumi.Output[dict]
    adopted: pulumi.Output[bool]

    def __init__(self, name: str, args: RailwayProjectArgs, opts=None) -> None:
        props = encode(
            args, project_id=None, environment_ids=None, adopted=None, live_workspace_id=None
        )
        super().__init__(ProjectProvider(), name, props, _secret_opts(opts))


# --- environment ------------------------------------------------------------------


def _environments(client: RailwayClient, project_id: str) -> list[dict[str, Any]]:
    project = client.execute(gql.PROJECT_GET, {"id": project_id}, op="project")["project"]
    return edges(project.get("environments"))


class EnvironmentProvider(_RailwayProvider[RailwayEnvironmentArgs]):
    """An environment by name; adopts an existing one of that name (e.g. ``production``)."""

    args_type = RailwayEnvironmentArgs

    fields = ("project_id", "name")
    replace_on = ("project_id", "name")
    required = ("project_id", "name")
    kind = "environment"

    def _create(self, client: RailwayClient, args: RailwayEnvironmentArgs) -> CreateResult:
        project_id, name = str(args.project_id), str(args.name)
        known = dict(args.project_environments or {})  # from the project's own answer
        listed: list[dict[str, Any]] = []

        def lookup() -> dict[str, Any] | None:
            listed[:] = _environments(client, project_id)
            found = next((e for e in listed if e["name"] == name), None)
            if found is None and name in known:
                found = {"id": known[name], "name": name}
            return found

        env = lookup()
        if env is None and not listed:
            env = wait_for(lookup)  # a project always has an environment: this is lag
        if env is not None:
            return CreateResult(env["id"], self._outs(args, environment_id=env["id"], adopted=True))
        if args.api.is_kind("project"):
            raise RailwayError(
                f"environment {name!r} does not exist in project {project_id} and a project "
                f"token cannot create environments: set {KEY_ENVIRONMENT} to the environment "
                "the token belongs to."
            )
        env = create_or_find(
            lambda: client.execute(
                gql.ENVIRONMENT_CREATE,
                {"input": {"projectId": project_id, "name": name}},
                op="environmentCreate",
            )["environmentCreate"],
            lookup,
            f"environment {name!r}",
        )
        return CreateResult(env["id"], self._outs(args, environment_id=env["id"], adopted=False))

    def _listed(self, client, id_, args):
        return lambda: next(
            (e for e in _environments(client, str(args.project_id)) if e["id"] == id_), None
        )

    def _read(self, client, id_, args: RailwayEnvironmentArgs, state) -> ReadResult:
        env = wait_for(self._listed(client, id_, args))
        if env is None:
            return ReadResult(None, {})
        outs = dict(state)
        outs.update(name=env["name"], environment_id=env["id"])
        return ReadResult(id_, outs)

    def _delete(self, client, id_, args: RailwayEnvironmentArgs, state) -> None:
        if state.get("adopted"):
            return
        self._delete_verified(
            client,
            lambda: client.execute(gql.ENVIRONMENT_DELETE, {"id": id_}, op="environmentDelete"),
            self._listed(client, id_, args),
            f"environment {id_}",
        )


class RailwayEnvironment(Resource, module="railway", name="Environment"):
    environment_id: pulumi.Output[str]
    adopted: pulumi.Output[bool]

    def __init__(self, name: str, args: RailwayEnvironmentArgs, opts=None) -> None:
        props = encode(args, environment_id=None, adopted=None)
        super().__init__(EnvironmentProvider(), name, props, _secret_opts(opts))


# --- service ---------------------------------------------------------------------


def _service_instances(client: RailwayClient, environment_id: str) -> list[dict[str, Any]]:
    env = client.execute(gql.ENVIRONMENT_GET, {"id": environment_id}, op="environment")[
        "environment"
    ]
    return edges(env.get("serviceInstances"))


class ServiceProvider(_RailwayProvider[RailwayServiceArgs]):
    """A service running an image, with its start command and restart policy.

    Created *without* a source first, then configured: a service created with an
    image deploys at once, before its variables exist, and the postgres entrypoint
    would fail without POSTGRES_PASSWORD. Deploys are the Deployment resource's job.
    The private domain is read back from Railway (``RAILWAY_PRIVATE_DOMAIN``).
    """

    args_type = RailwayServiceArgs

    fields = ("project_id", "environment_id", "name", "image", "start_command", "region")
    replace_on = ("project_id", "environment_id")
    required = ("project_id", "environment_id", "name", "image")
    kind = "service"

    @staticmethod
    def _instance_input(args: RailwayServiceArgs) -> dict[str, Any]:
        instance: dict[str, Any] = {
            "source": {"image": args.image},
            "startCommand": args.start_command or None,
            "restartPolicyType": "ON_FAILURE",
            "restartPolicyMaxRetries": 10,
            "numReplicas": 1,  # one writer per volume: PostgreSQL is not multi-replica
        }
        if args.region:
            instance["region"] = args.region
        return instance

    def _create(self, client: RailwayClient, args: RailwayServiceArgs) -> CreateResult:
        env_id, name = str(args.environment_id), str(args.name)

        def lookup() -> str | None:
            found = [i for i in _service_instances(client, env_id) if i["serviceName"] == name]
            if len(found) > 1:
                ids = ", ".join(i["serviceId"] for i in found)
                raise RailwayError(
                    f"{len(found)} services are named {name!r} in environment {env_id} ({ids}): "
                    "delete the extra one in the dashboard (or choose another name with "
                    "coachdb:railwayServiceName)."
                )
            return found[0]["serviceId"] if found else None

        service_id = lookup()
        created = False
        if service_id is None:
            service_id = create_or_find(
                lambda: client.execute(
                    gql.SERVICE_CREATE,
                    {
                        "input": {
                            "projectId": args.project_id,
                            "environmentId": env_id,
                            "name": name,
                        }
                    },
                    op="serviceCreate",
                )["serviceCreate"]["id"],
                lookup,
                f"service {name!r}",
            )
            created = True
        try:
            if wait_for(lambda: lookup() == service_id or None) is None:
                raise RailwayError(f"Railway never listed the new service {service_id}")
            self._configure(client, service_id, args)
            domain = self._private_domain(client, service_id, args)
        except RailwayError:
            if created:
                # keep create transactional: a half-configured service would be orphaned
                try:
                    self._delete(client, service_id, args, {})
                except RailwayError as cleanup:
                    pulumi.log.warn(
                        f"could not remove half-created service {service_id}: {cleanup}; "
                        "the next `pulumi up` finds it by name and finishes it"
                    )
            raise
        return CreateResult(
            service_id, self._outs(args, service_id=service_id, private_domain=domain)
        )

    def _configure(self, client, service_id: str, args: RailwayServiceArgs) -> None:
        # an absolute setting: applying it twice is the same as once
        client.execute(
            gql.SERVICE_INSTANCE_UPDATE,
            {
                "serviceId": service_id,
                "environmentId": args.environment_id,
                "input": self._instance_input(args),
            },
            op="serviceInstanceUpdate",
        )

    @staticmethod
    def _private_domain(client, service_id: str, args: RailwayServiceArgs) -> str:
        """Railway's own ``RAILWAY_PRIVATE_DOMAIN`` for the service (not built from config)."""

        def fetch() -> str | None:
            values = client.execute(
                gql.SERVICE_VARIABLES_RENDERED,
                {
                    "projectId": args.project_id,
                    "environmentId": args.environment_id,
                    "serviceId": service_id,
                },
                op="variables",
            )["variables"]
            return values.get("RAILWAY_PRIVATE_DOMAIN") or None

        domain = wait_for(fetch)
        if domain is None:
            raise RailwayError(
                f"Railway reports no RAILWAY_PRIVATE_DOMAIN for service {service_id}"
            )
        return str(domain)

    def _listed(self, client, id_, args):
        return lambda: next(
            (
                i
                for i in _service_instances(client, str(args.environment_id))
                if i["serviceId"] == id_
            ),
            None,
        )

    def _read(self, client, id_, args: RailwayServiceArgs, state) -> ReadResult:
        if wait_for(self._listed(client, id_, args)) is None:
            return ReadResult(None, {})
        instance = client.execute(
            gql.SERVICE_INSTANCE_GET,
            {"serviceId": id_, "environmentId": args.environment_id},
            op="serviceInstance",
        )["serviceInstance"]
        outs = dict(state)
        outs.update(
            name=instance["serviceName"],
            image=(instance.get("source") or {}).get("image"),
            start_command=instance.get("startCommand"),
            private_domain=self._private_domain(client, id_, args),
        )
        return ReadResult(id_, outs)

    def _update(
        self, client, id_, old: RailwayServiceArgs, new: RailwayServiceArgs, state
    ) -> UpdateResult:
        if old.name != new.name:
            client.execute(
                gql.SERVICE_UPDATE, {"id": id_, "input": {"name": new.name}}, op="serviceUpdate"
            )
        instance_keys = ("image", "start_command", "region")
        if any(getattr(old, key) != getattr(new, key) for key in instance_keys):
            self._configure(client, id_, new)
        domain = state.get("private_domain")
        if old.name != new.name or not domain:
            domain = self._private_domain(client, id_, new)
        outs = dict(state)
        outs.update(self._outs(new, service_id=id_, private_domain=domain))
        return UpdateResult(outs)

    def _delete(self, client, id_, args: RailwayServiceArgs, state) -> None:
        self._delete_verified(
            client,
            lambda: client.execute(
                gql.SERVICE_DELETE,
                {"id": id_, "environmentId": args.environment_id},
                op="serviceDelete",
            ),
            self._listed(client, id_, args),
            f"service {id_}",
        )


class RailwayService(Resource, module="railway", name="Service"):
    service_id: pulumi.Output[str]
    private_domain: pulumi.Output[str]

    def __init__(self, name: str, args: RailwayServiceArgs, opts=None) -> None:
        props = encode(args, service_id=None, private_domain=None)
        super().__init__(ServiceProvider(), name, props, _secret_opts(opts))


# --- volume ----------------------------------------------------------------------


BACKUP_KINDS = ("DAILY", "WEEKLY", "MONTHLY")


def _volume_instances(client: RailwayClient, environment_id: str) -> list[dict[str, Any]]:
    env = client.execute(
        gql.VOLUME_INSTANCES_GET, {"environmentId": environment_id}, op="environment"
    )["environment"]
    return edges(env.get("volumeInstances"))


class VolumeProvider(_RailwayProvider[RailwayVolumeArgs]):
    """The persistent volume holding PGDATA, attached to the service.

    Identity: the service and the mount path in the environment (Railway allows
    one volume per service). Create is atomic: create, wait until Railway lists
    it, set the backup schedules; on any failure the volume made here is deleted.
    ``backup_schedules`` (any of DAILY, WEEKLY, MONTHLY) turns on Railway's volume
    backups; an empty list turns them off.
    """

    args_type = RailwayVolumeArgs

    fields = (
        "project_id",
        "environment_id",
        "service_id",
        "mount_path",
        "backup_schedules",
        "region",
    )
    replace_on = ("project_id", "environment_id", "service_id", "region")
    required = ("project_id", "environment_id", "service_id", "mount_path")
    kind = "volume"

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
    def _by_id(client, args, volume_id: str) -> Callable[[], dict[str, Any] | None]:
        return lambda: next(
            (
                n
                for n in _volume_instances(client, str(args.environment_id))
                if n["volumeId"] == volume_id
            ),
            None,
        )

    def _set_schedules(self, client, instance_id: str, kinds) -> None:
        client.execute(
            gql.VOLUME_BACKUP_SCHEDULES_SET,
            {"volumeInstanceId": instance_id, "kinds": list(kinds or [])},
            op="volumeInstanceBackupScheduleUpdate",
        )

    def _create(self, client: RailwayClient, args: RailwayVolumeArgs) -> CreateResult:
        service_id, mount = str(args.service_id), str(args.mount_path)

        def lookup() -> dict[str, Any] | None:
            nodes = _volume_instances(client, str(args.environment_id))
            return next(
                (n for n in nodes if n.get("serviceId") == service_id and n["mountPath"] == mount),
                None,
            )

        instance = lookup()
        created_id: str | None = None
        if instance is None:
            volume_input: dict[str, Any] = {
                "projectId": args.project_id,
                "environmentId": args.environment_id,
                "serviceId": service_id,
                "mountPath": mount,
            }
            if args.region:
                volume_input["region"] = args.region
            created_id = create_or_find(
                lambda: client.execute(
                    gql.VOLUME_CREATE, {"input": volume_input}, op="volumeCreate"
                )["volumeCreate"]["id"],
                lambda: (lookup() or {}).get("volumeId"),
                f"the volume at {mount} of service {service_id}",
            )
        volume_id = created_id or instance["volumeId"]  # type: ignore[index]
        try:
            instance = wait_for(self._by_id(client, args, volume_id))
            if instance is None:
                raise RailwayError(
                    f"Railway never listed the new volume {volume_id} in environment "
                    f"{args.environment_id}"
                )
            if args.backup_schedules:
                self._set_schedules(client, instance["id"], args.backup_schedules)
        except RailwayError:
            if created_id is not None:
                try:
                    self._delete(client, created_id, args, {})
                except RailwayError as cleanup:
                    pulumi.log.warn(
                        f"could not remove half-created volume {created_id}: {cleanup}; the "
                        "next `pulumi up` finds it by service and mount path"
                    )
            raise
        return CreateResult(volume_id, self._outs(args, volume_id=volume_id))

    def _read(self, client, id_, args: RailwayVolumeArgs, state) -> ReadResult:
        node = wait_for(self._by_id(client, args, id_))
        if node is None:
            return ReadResult(None, {})
        schedules = client.execute(
            gql.VOLUME_BACKUP_SCHEDULES_GET,
            {"volumeInstanceId": node["id"]},
            op="volumeInstanceBackupScheduleList",
        )["volumeInstanceBackupScheduleList"]
        outs = dict(state)
        outs.update(
            mount_path=node["mountPath"],
            service_id=node.get("serviceId"),
            backup_schedules=sorted({item["kind"] for item in schedules}, key=BACKUP_KINDS.index),
        )
        return ReadResult(id_, outs)

    def _update(
        self, client, id_, old: RailwayVolumeArgs, new: RailwayVolumeArgs, state
    ) -> UpdateResult:
        if old.mount_path != new.mount_path:
            client.execute(
                gql.VOLUME_INSTANCE_UPDATE,
                {
                    "volumeId": id_,
                    "environmentId": new.environment_id,
                    # without serviceId Railway *disconnects* the volume (schema docs)
                    "input": {"mountPath": new.mount_path, "serviceId": new.service_id},
                },
                op="volumeInstanceUpdate",
            )
        if (old.backup_schedules or []) != (new.backup_schedules or []):
            node = wait_for(self._by_id(client, new, id_))
            if node is None:
                raise RailwayError(
                    f"volume {id_} is not listed in environment {new.environment_id}"
                )
            self._set_schedules(client, node["id"], new.backup_schedules)
        outs = dict(state)
        outs.update(self._outs(new, volume_id=id_))
        return UpdateResult(outs)

    def _delete(self, client, id_, args: RailwayVolumeArgs, state) -> None:
        self._delete_verified(
            client,
            lambda: client.execute(gql.VOLUME_DELETE, {"volumeId": id_}, op="volumeDelete"),
            self._by_id(client, args, id_),
            f"volume {id_}",
        )


class RailwayVolume(Resource, module="railway", name="Volume"):
    volume_id: pulumi.Output[str]

    def __init__(self, name: str, args: RailwayVolumeArgs, opts=None) -> None:
        props = encode(args, volume_id=None)
        super().__init__(VolumeProvider(), name, props, _secret_opts(opts))


# --- variables -------------------------------------------------------------------


class VariablesProvider(_RailwayProvider[RailwayVariablesArgs]):
    """The service variables this program owns (others set in the dashboard are left alone).

    Upserts with ``skipDeploys`` so a change is applied by one explicit deploy
    (the Deployment resource) instead of one restart per variable. An upsert
    whose answer was lost is checked by reading the variables back.
    """

    args_type = RailwayVariablesArgs

    fields = ("project_id", "environment_id", "service_id", "variables")
    replace_on = ("project_id", "environment_id", "service_id")
    required = ("project_id", "environment_id", "service_id", "variables")
    kind = "variables"

    def _scope(self, args: RailwayVariablesArgs) -> dict[str, Any]:
        return {
            "projectId": args.project_id,
            "environmentId": args.environment_id,
            "serviceId": args.service_id,
        }

    def _live(self, client, args) -> dict[str, str]:
        return client.execute(gql.VARIABLES_GET, self._scope(args), op="variables")["variables"]

    def _upsert(self, client: RailwayClient, args: RailwayVariablesArgs, values) -> None:
        values = dict(values)
        try:
            client.execute(
                gql.VARIABLES_UPSERT,
                {
                    "input": {
                        **self._scope(args),
                        "variables": values,
                        "replace": False,
                        "skipDeploys": True,
                    }
                },
                op="variableCollectionUpsert",
            )
        except RailwayOutcomeUnknown:
            live = self._live(client, args)
            if any(live.get(key) != value for key, value in values.items()):
                raise
            # the lost answer belonged to an applied upsert

    def _create(self, client: RailwayClient, args: RailwayVariablesArgs) -> CreateResult:
        self._upsert(client, args, args.variables)
        id_ = f"{args.service_id}:{args.environment_id}"
        return CreateResult(id_, self._outs(args))

    def _read(self, client, id_, args: RailwayVariablesArgs, state) -> ReadResult:
        live = self._live(client, args)
        owned = {key: live[key] for key in (args.variables or {}) if key in live}
        outs = dict(state)
        outs["variables"] = owned
        return ReadResult(id_, outs)

    def _remove(self, client, args, key: str) -> None:
        self._delete_verified(
            client,
            lambda: client.execute(
                gql.VARIABLE_DELETE,
                {"input": {**self._scope(args), "name": key}},
                op="variableDelete",
            ),
            lambda: key if key in self._live(client, args) else None,
            f"variable {key}",
        )

    def _update(
        self, client, id_, old: RailwayVariablesArgs, new: RailwayVariablesArgs, state
    ) -> UpdateResult:
        old_vars: dict[str, str] = old.variables or {}
        new_vars: dict[str, str] = new.variables or {}
        changed = {key: value for key, value in new_vars.items() if old_vars.get(key) != value}
        if changed:
            self._upsert(client, new, changed)
        for key in [key for key in old_vars if key not in new_vars]:
            self._remove(client, new, key)
        outs = dict(state)
        outs.update(self._outs(new))
        return UpdateResult(outs)

    def _delete(self, client, id_, args: RailwayVariablesArgs, state) -> None:
        try:
            live = self._live(client, args)
        except RailwayAuthError:
            raise
        except RailwayError:
            service_listed = ServiceProvider()._listed(client, args.service_id, args)
            if wait_for(service_listed, present=False) is None:
                return  # the service, and with it every variable, is gone
            raise
        for key in args.variables or {}:
            if key in live:
                self._remove(client, args, key)


class RailwayVariables(Resource, module="railway", name="Variables"):
    variables: pulumi.Output[dict]

    def __init__(self, name: str, args: RailwayVariablesArgs, opts=None) -> None:
        super().__init__(VariablesProvider(), name, encode(args), _secret_opts(opts, "variables"))


# --- TCP proxy -------------------------------------------------------------------


def _live_proxies(client: RailwayClient, args: RailwayTcpProxyArgs) -> list[dict[str, Any]]:
    """The proxies Railway's CLI would show: not deleted, not being deleted."""
    proxies = client.execute(
        gql.TCP_PROXIES_GET,
        {"serviceId": args.service_id, "environmentId": args.environment_id},
        op="tcpProxies",
    )["tcpProxies"]
    return [
        p
        for p in proxies
        if p.get("deletedAt") is None and p.get("syncStatus") not in ("DELETED", "DELETING")
    ]


class TcpProxyProvider(_RailwayProvider[RailwayTcpProxyArgs]):
    """Railway's public TCP proxy (``<name>.proxy.rlwy.net:<port>``) to the service.

    Created the way Railway's CLI does it: a committed environment patch that
    declares a proxy for the application port (declarative, so it cannot make
    a second one), then ``tcpProxies`` is polled until the proxy is listed.
    Railway allows one proxy per service instance.
    """

    args_type = RailwayTcpProxyArgs

    fields = ("environment_id", "service_id", "application_port")
    replace_on = fields
    required = fields
    kind = "TCP proxy"

    def _create(self, client: RailwayClient, args: RailwayTcpProxyArgs) -> CreateResult:
        port = int(args.application_port)

        def lookup() -> dict[str, Any] | None:
            live = _live_proxies(client, args)
            mine = next((p for p in live if p["applicationPort"] == port), None)
            if mine is None and live:
                other = live[0]
                raise RailwayError(
                    f"service {args.service_id} already has a TCP proxy for port "
                    f"{other['applicationPort']} ({other['domain']}:{other['proxyPort']}); "
                    "Railway allows one per service instance: delete it in the dashboard."
                )
            return mine

        proxy = lookup()
        if proxy is None:
            patch = {
                "services": {str(args.service_id): {"networking": {"tcpProxies": {str(port): {}}}}}
            }
            # the patch is declarative: whether a lost answer's patch landed, the listing tells
            with contextlib.suppress(RailwayOutcomeUnknown):
                client.execute(
                    gql.ENVIRONMENT_PATCH_COMMIT,
                    {
                        "environmentId": args.environment_id,
                        "patch": patch,
                        "commitMessage": f"coachdb-infra: TCP proxy for port {port}",
                    },
                    op="environmentPatchCommit",
                )
            proxy = wait_for(lookup)
            if proxy is None:
                raise RailwayError(
                    f"Railway did not list a TCP proxy for port {port} of service "
                    f"{args.service_id} within {TUNING['lag_seconds']:g}s; run `pulumi up` "
                    "again (it looks the proxy up before asking for one)."
                )
        return CreateResult(
            proxy["id"], self._outs(args, domain=proxy["domain"], proxy_port=proxy["proxyPort"])
        )

    def _by_id(self, client, id_, args):
        return lambda: next((p for p in _live_proxies(client, args) if p["id"] == id_), None)

    def _read(self, client, id_, args: RailwayTcpProxyArgs, state) -> ReadResult:
        proxy = wait_for(self._by_id(client, id_, args))
        if proxy is None:
            return ReadResult(None, {})
        outs = dict(state)
        outs.update(
            domain=proxy["domain"],
            proxy_port=proxy["proxyPort"],
            application_port=proxy["applicationPort"],
        )
        return ReadResult(id_, outs)

    def _update(
        self, client, id_, old: RailwayTcpProxyArgs, new: RailwayTcpProxyArgs, state
    ) -> UpdateResult:
        outs = dict(state)
        outs.update(self._outs(new, domain=state.get("domain"), proxy_port=state.get("proxy_port")))
        return UpdateResult(outs)

    def _delete(self, client, id_, args: RailwayTcpProxyArgs, state) -> None:
        self._delete_verified(
            client,
            lambda: client.execute(gql.TCP_PROXY_DELETE, {"id": id_}, op="tcpProxyDelete"),
            self._by_id(client, id_, args),
            f"TCP proxy {id_}",
        )


class RailwayTcpProxy(Resource, module="railway", name="TcpProxy"):
    domain: pulumi.Output[str]
    proxy_port: pulumi.Output[int]

    def __init__(self, name: str, args: RailwayTcpProxyArgs, opts=None) -> None:
        props = encode(args, domain=None, proxy_port=None)
        super().__init__(TcpProxyProvider(), name, props, _secret_opts(opts))


# --- deployment ------------------------------------------------------------------

_FAILED = {"FAILED", "CRASHED", "REMOVED", "SKIPPED"}


class DeploymentProvider(_RailwayProvider[RailwayDeploymentArgs]):
    """Deploys the service when ``trigger`` changes and waits until it is running *and stays so*.

    ``trigger`` is a digest of everything the container sees (image, start
    command, variables); variables are upserted with ``skipDeploys`` so this is
    the single restart per change. After SUCCESS the status is re-polled for
    ``TUNING["stable_seconds"]``: a database that crashes seconds after starting
    is reported (deployment id, status, Railway's last log lines) instead of
    being recorded as deployed. A deploy whose answer was lost is found as
    "a deployment of this service that was not there before" and never re-sent.
    Deleting it deletes nothing on Railway.
    """

    args_type = RailwayDeploymentArgs

    fields = ("environment_id", "service_id", "trigger", "wait_seconds")
    replace_on = ("environment_id", "service_id")
    required = ("environment_id", "service_id", "trigger")
    kind = "deployment"

    def _deployment_ids(self, client, args) -> list[str]:
        listing = client.execute(
            gql.DEPLOYMENTS_LIST,
            {"input": {"serviceId": args.service_id, "environmentId": args.environment_id}},
            op="deployments",
        )["deployments"]
        return [node["id"] for node in edges(listing)]

    def _start(self, client, args) -> str:
        before = set(self._deployment_ids(client, args))
        return create_or_find(
            lambda: client.execute(
                gql.SERVICE_INSTANCE_DEPLOY,
                {"serviceId": args.service_id, "environmentId": args.environment_id},
                op="serviceInstanceDeployV2",
            )["serviceInstanceDeployV2"],
            lambda: next((i for i in self._deployment_ids(client, args) if i not in before), None),
            f"a new deployment of service {args.service_id}",
        )

    def _last_logs(self, client, deployment_id: str) -> str:
        try:
            logs = client.execute(
                gql.DEPLOYMENT_LOGS,
                {"deploymentId": deployment_id, "limit": LOG_LINES},
                op="deploymentLogs",
            )["deploymentLogs"]
        except RailwayError as exc:
            return f"  (Railway offered no logs: {exc})"
        lines = [f"  {entry['timestamp']} {entry['message']}" for entry in logs[-LOG_LINES:]]
        return "\n".join(lines) or "  (no log lines)"

    def _failed(self, client, args, deployment_id: str, status: str, when: str) -> RailwayError:
        return RailwayError(
            f"Railway deployment {deployment_id} of service {args.service_id} {when} "
            f"{status}. Last log lines:\n{self._last_logs(client, deployment_id)}\n"
            "Open the service's Deployments tab for the full logs, fix the cause, then "
            "`pulumi up` again."
        )

    def _deploy(self, client, args: RailwayDeploymentArgs) -> dict[str, Any]:
        deployment_id = self._start(client, args)
        wait_seconds = float(args.wait_seconds or 900)
        deadline = time.monotonic() + wait_seconds
        interval = TUNING["poll_interval"]

        def status() -> str:
            return client.execute(gql.DEPLOYMENT_GET, {"id": deployment_id}, op="deployment")[
                "deployment"
            ]["status"]

        while True:
            current = status()
            if current == "SUCCESS":
                break
            if current in _FAILED:
                raise self._failed(client, args, deployment_id, current, "ended")
            if time.monotonic() >= deadline:
                raise RailwayError(
                    f"Railway deployment {deployment_id} is still {current} after "
                    f"{wait_seconds:g}s ({KEY_DEPLOY_TIMEOUT}); check its logs, then "
                    "`pulumi up` again."
                )
            time.sleep(interval)
            # spare the hourly request budget on slow starts: 5 s, 7.5 s, ... 15 s
            interval = min(interval * 1.5, TUNING["poll_interval"] * 3)
        self._stability_window(client, args, deployment_id, status, deadline)
        return {"deployment_id": deployment_id, "status": "SUCCESS"}

    def _stability_window(self, client, args, deployment_id: str, status, deadline) -> None:
        """SUCCESS must hold for the window, and PostgreSQL must answer through the proxy.

        A crash loop shows up as a status change; the probe (when the stack has a
        public proxy) is a verify-full TLS handshake plus ``SELECT 1``, retried
        until it succeeds or the deploy deadline passes.
        """
        from .database import is_permanent, probe

        target = args.probe or None
        answered, last_error = target is None, None
        stable_until = time.monotonic() + TUNING["stable_seconds"]
        while not (answered and time.monotonic() >= stable_until):
            if not answered and time.monotonic() >= deadline:
                break
            time.sleep(min(TUNING["poll_interval"], max(0.0, stable_until - time.monotonic())))
            current = status()
            if current != "SUCCESS":
                raise self._failed(client, args, deployment_id, current, "reported SUCCESS, then")
            if not answered:
                answered, last_error = probe(target)
                if last_error and is_permanent(last_error):
                    break
        if not answered:
            where = f"{target['host']}:{target['port']}"
            raise RailwayError(
                f"Railway deployment {deployment_id} of service {args.service_id} reports "
                f"SUCCESS, but PostgreSQL did not answer a verify-full TLS connection and a "
                f"query through {where}: {last_error}. Last log lines:\n"
                f"{self._last_logs(client, deployment_id)}"
            )

    def _create(self, client: RailwayClient, args: RailwayDeploymentArgs) -> CreateResult:
        result = self._deploy(client, args)
        return CreateResult(result["deployment_id"], self._outs(args, **result))

    def _update(
        self, client, id_, old: RailwayDeploymentArgs, new: RailwayDeploymentArgs, state
    ) -> UpdateResult:
        outs = dict(state)
        if old.trigger != new.trigger:
            outs.update(self._outs(new, **self._deploy(client, new)))
        else:
            outs.update(self._outs(new))
        return UpdateResult(outs)


class RailwayDeployment(Resource, module="railway", name="Deployment"):
    deployment_id: pulumi.Output[str]
    status: pulumi.Output[str]

    def __init__(self, name: str, args: RailwayDeploymentArgs, opts=None) -> None:
        props = encode(args, deployment_id=None, status=None)
        # the trigger is a digest of secret variables: keep even that encrypted
        super().__init__(DeploymentProvider(), name, props, _secret_opts(opts, "trigger", "probe"))
