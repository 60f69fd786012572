"""A local stand-in for Railway's GraphQL API, for the provider tests.

It listens on 127.0.0.1 in a thread of the test process and

* parses, validates and *executes* every incoming document against Railway's
  published schema (graphql-core over the introspection JSON), so a document
  the real API would reject is rejected here too, and answers have the real
  shapes, nullability and enum values;
* keeps state (projects, environments, services, volumes, variables, TCP
  proxies, deployments) so tests can assert what "Railway" ended up with;
* checks the auth header the way Railway does (``Authorization: Bearer`` for
  account/workspace tokens, ``Project-Access-Token`` for project tokens scoped
  to one project environment) and answers "Not Authorized" otherwise;
* injects faults on request: an HTTP status with headers (401, 429 +
  Retry-After, 500), a delay longer than the client's timeout, a GraphQL
  ``errors`` payload, a response trickled byte by byte, or a fault *after*
  applying the request (the answer is lost: the connection drops, or 502/504);
* lags like Railway does: a new object is left out of every listing for
  ``lag`` seconds after it was created.

It is a test fixture, not a model of everything Railway does.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from graphql import (
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    build_client_schema,
    execute,
    parse,
    validate,
)

# Tokens the fake accepts; fake values (they only ever reach 127.0.0.1).
ACCOUNT_TOKEN = "acct-7f3c2d1e-test-token-not-real"  # pragma: allowlist secret
PROJECT_TOKEN = "proj-9a8b7c6d-test-token-not-real"  # pragma: allowlist secret


def load_schema(path) -> GraphQLSchema:
    with open(path, encoding="utf-8") as handle:
        return build_client_schema(json.load(handle)["data"], assume_valid=True)


@dataclass
class Fault:
    """One injected failure; ``op`` limits it to requests whose root field is ``op``."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    errors: list[dict[str, Any]] | None = None
    delay: float = 0.0
    op: str | None = None
    times: int = 1
    passthrough: bool = False
    """Answer normally, only adding ``headers`` (e.g. X-RateLimit-Remaining)."""
    apply: bool = False
    """Execute the request first (state changes), then answer with the fault."""
    drop: bool = False
    """Close the connection instead of answering (with ``apply``: a lost answer)."""
    drip: float = 0.0
    """Answer normally but send the body one byte every ``drip`` seconds."""


@dataclass
class Call:
    op_names: list[str]
    mutation: bool
    variables: dict[str, Any]
    headers: dict[str, str]
    status: int


class NotAuthorized(GraphQLError):
    def __init__(self) -> None:
        super().__init__("Not Authorized")


class FakeRailway:
    """State plus resolvers; ``serve()`` starts the HTTP front end."""

    def __init__(self, schema: GraphQLSchema) -> None:
        self.schema = schema
        self.lock = threading.RLock()
        self.ids = itertools.count(1)
        self.account_tokens: set[str] = set()
        self.project_tokens: dict[str, tuple[str, str]] = {}
        self.projects: dict[str, dict[str, Any]] = {}
        self.environments: dict[str, dict[str, Any]] = {}
        self.services: dict[str, dict[str, Any]] = {}
        self.instances: dict[tuple[str, str], dict[str, Any]] = {}
        self.volumes: dict[str, dict[str, Any]] = {}
        self.variables: dict[tuple[str, str, str | None], dict[str, str]] = {}
        self.proxies: dict[str, dict[str, Any]] = {}
        self.deployments: dict[str, dict[str, Any]] = {}
        self.deployment_status = "SUCCESS"
        self.status_script: list[str] = []  # statuses reported before deployment_status
        self.workspaces: list[dict[str, str]] = [{"id": "ws-0001", "name": "Personal"}]
        self.lag = 0.0  # seconds a new object stays out of listings
        self.lag_only: tuple[str, ...] = ()
        self.born: dict[str, float] = {}
        self.log_lines: list[str] = ["database system is ready to accept connections"]
        self.faults: list[Fault] = []
        self.calls: list[Call] = []
        self._auth: tuple[str, tuple[str, str] | None] = ("none", None)
        self._server: ThreadingHTTPServer | None = None

    # -- test helpers -------------------------------------------------------------

    def new_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self.ids):04d}"

    def mutations(self) -> list[str]:
        return [name for call in self.calls if call.mutation for name in call.op_names]

    def reset_calls(self) -> None:
        self.calls.clear()

    def seed_project(self, name: str = "existing", env_name: str = "production") -> dict[str, Any]:
        with self.lock:
            project = self._create_project({"name": name, "defaultEnvironmentName": env_name})
            return project

    # -- HTTP ------------------------------------------------------------------------

    def serve(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:  # keep pytest output clean
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                status, headers, body, fault = fake.handle(dict(self.headers.items()), raw)
                try:
                    if fault is not None and fault.drop:
                        # the answer is lost: no status line, the connection just ends
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    payload = json.dumps(body).encode()
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if fault is not None and fault.drip:
                        for index in range(len(payload)):
                            self.wfile.write(payload[index : index + 1])
                            self.wfile.flush()
                            time.sleep(fault.drip)
                    else:
                        self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError, OSError):
                    return  # the client gave up (timeout test)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/graphql/v2"

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def handle(
        self, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, str], Any, Fault | None]:
        try:
            request = json.loads(raw)
            document = parse(request["query"])
        except (ValueError, KeyError, GraphQLError) as exc:
            return 400, {}, {"errors": [{"message": f"bad request: {exc}"}]}, None
        errors = validate(self.schema, document)
        operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
        op_names = [sel.name.value for sel in operation.selection_set.selections]
        is_mutation = operation.operation.value == "mutation"
        variables = request.get("variables") or {}
        lower = {key.lower(): value for key, value in headers.items()}
        status = 200
        call = Call(op_names, is_mutation, variables, lower, 0)
        self.calls.append(call)  # recorded on arrival: a delayed answer still counts
        fault = self._take_fault(op_names)
        try:
            if errors:
                status = 400
                return status, {}, {"errors": [{"message": e.message} for e in errors]}, None
            if fault is None or fault.passthrough or fault.apply or fault.drip:
                body = self._execute(document, variables, lower)
                if fault is None or not fault.apply:
                    extra = dict(fault.headers) if fault is not None else {}
                    return status, extra, body, fault
            if fault.delay:
                time.sleep(fault.delay)
            if fault.drop:
                status = -1
                return status, {}, {}, fault
            if fault.status != 200 or fault.errors is None:
                status = fault.status
                body = {"errors": fault.errors or [{"message": f"HTTP {fault.status}"}]}
                return status, dict(fault.headers), body, fault
            return 200, dict(fault.headers), {"data": None, "errors": fault.errors}, fault
        finally:
            call.status = status

    def _execute(self, document, variables: dict[str, Any], headers: dict[str, str]) -> Any:
        with self.lock:
            self._auth = self._authenticate(headers)
            result = execute(
                self.schema, document, root_value=self._root(), variable_values=variables
            )
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = [{"message": err.message} for err in result.errors]
        return body

    def _take_fault(self, op_names: list[str]) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.op is None or fault.op in op_names:
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def _authenticate(self, headers: dict[str, str]) -> tuple[str, tuple[str, str] | None]:
        bearer = headers.get("authorization", "")
        if bearer.startswith("Bearer ") and bearer[7:] in self.account_tokens:
            return "account", None
        project_token = headers.get("project-access-token")
        if project_token in self.project_tokens:
            return "project", self.project_tokens[project_token]
        return "none", None

    # -- authorization -----------------------------------------------------------

    def _need_account(self) -> None:
        if self._auth[0] != "account":
            raise NotAuthorized()

    def _need_project(self, project_id: str | None, environment_id: str | None = None) -> None:
        kind, scope = self._auth
        if kind == "account":
            return
        if kind == "project" and scope is not None:
            if project_id is not None and project_id != scope[0]:
                raise NotAuthorized()
            if environment_id is not None and environment_id != scope[1]:
                raise NotAuthorized()
            return
        raise NotAuthorized()

    # -- resolvers ------------------------------------------------------------------

    def _root(self) -> dict[str, Any]:
        return {
            "me": self.q_me,
            "projects": self.q_projects,
            "project": self.q_project,
            "projectCreate": self.m_project_create,
            "projectUpdate": self.m_project_update,
            "projectDelete": self.m_project_delete,
            "environment": self.q_environment,
            "environmentCreate": self.m_environment_create,
            "environmentDelete": self.m_environment_delete,
            "environmentPatchCommit": self.m_environment_patch_commit,
            "serviceCreate": self.m_service_create,
            "serviceUpdate": self.m_service_update,
            "serviceDelete": self.m_service_delete,
            "serviceInstance": self.q_service_instance,
            "serviceInstanceUpdate": self.m_service_instance_update,
            "serviceInstanceDeployV2": self.m_deploy,
            "deployment": self.q_deployment,
            "deployments": self.q_deployments,
            "deploymentLogs": self.q_deployment_logs,
            "volumeCreate": self.m_volume_create,
            "volumeInstanceUpdate": self.m_volume_instance_update,
            "volumeDelete": self.m_volume_delete,
            "volumeInstanceBackupScheduleList": self.q_backup_schedules,
            "volumeInstanceBackupScheduleUpdate": self.m_backup_schedules,
            "variables": self.q_variables,
            "variableCollectionUpsert": self.m_variables_upsert,
            "variableDelete": self.m_variable_delete,
            "tcpProxies": self.q_tcp_proxies,
            "tcpProxyDelete": self.m_tcp_proxy_delete,
        }

    # -- lag ------------------------------------------------------------------------

    def _born(self, object_id: str) -> str:
        self.born[object_id] = time.monotonic()
        return object_id

    def visible(self, object_id: str) -> bool:
        """Listed yet? A new object stays out of listings for ``lag`` seconds.

        ``lag_only`` (id prefixes such as ``("vol",)``) limits the lag to some kinds.
        """
        if self.lag_only and not object_id.startswith(self.lag_only):
            return True
        return time.monotonic() - self.born.get(object_id, 0.0) >= self.lag

    # -- workspaces and projects ----------------------------------------------------

    def q_me(self, _info) -> dict[str, Any]:
        self._need_account()
        return {"workspaces": list(self.workspaces)}

    def q_projects(self, _info, workspaceId: str | None = None, **_paging) -> dict[str, Any]:
        self._need_account()
        nodes = [
            self._project_view(project)
            for project in self.projects.values()
            if self.visible(project["id"])
            and (workspaceId is None or project["workspaceId"] == workspaceId)
        ]
        return {"edges": [{"node": node} for node in nodes]}

    def _project_view(self, project: dict[str, Any], *, fresh: bool = False) -> dict[str, Any]:
        envs = [
            self.environments[e] for e in project["environment_ids"] if fresh or self.visible(e)
        ]
        return {
            **project,
            "environments": {"edges": [{"node": env} for env in envs]},
        }

    def _create_project(self, data: dict[str, Any]) -> dict[str, Any]:
        project_id = self._born(self.new_id("prj"))
        project = {
            "id": project_id,
            "name": data.get("name") or "unnamed",
            "description": data.get("description"),
            "workspaceId": data.get("workspaceId"),
            "environment_ids": [],
        }
        self.projects[project_id] = project
        env = self._create_env(project_id, data.get("defaultEnvironmentName") or "production")
        project["environment_ids"].append(env["id"])
        return self._project_view(project, fresh=True)

    def _create_env(self, project_id: str, name: str) -> dict[str, Any]:
        env = {"id": self._born(self.new_id("env")), "name": name, "projectId": project_id}
        self.environments[env["id"]] = env
        return env

    def _project(self, project_id: str) -> dict[str, Any]:
        if project_id not in self.projects:
            raise GraphQLError("Project not found")
        return self.projects[project_id]

    def q_project(self, _info, id: str) -> dict[str, Any]:
        self._need_project(id)
        return self._project_view(self._project(id))

    def m_project_create(self, _info, input: dict[str, Any]) -> dict[str, Any]:
        self._need_account()
        if len(self.workspaces) > 1 and not input.get("workspaceId"):
            raise GraphQLError("workspaceId is required")
        return self._create_project(input)

    def m_project_update(self, _info, id: str, input: dict[str, Any]) -> dict[str, Any]:
        self._need_account()
        project = self._project(id)
        for key in ("name", "description"):
            if input.get(key) is not None:
                project[key] = input[key]
        return self._project_view(project)

    def m_project_delete(self, _info, id: str) -> bool:
        self._need_account()
        project = self.projects.pop(id, None)
        if project is None:
            raise GraphQLError("Project not found")
        for env_id in project["environment_ids"]:
            self.environments.pop(env_id, None)
        for sid in [s for s, svc in self.services.items() if svc["projectId"] == id]:
            self._drop_service(sid)
        for vid in [v for v, vol in self.volumes.items() if vol["projectId"] == id]:
            self.volumes.pop(vid)
        return True

    # -- environments -----------------------------------------------------------------

    def q_environment(self, _info, id: str, projectId: str | None = None) -> dict[str, Any]:
        env = self.environments.get(id)
        if env is None:
            raise GraphQLError("Environment not found")
        self._need_project(env["projectId"], id)
        volumes = [
            {
                "node": {
                    "id": f"vi-{vid}",
                    "volumeId": vid,
                    "environmentId": id,
                    "region": vol.get("region"),
                    **{k: v for k, v in inst.items() if k != "schedules"},
                }
            }
            for vid, vol in self.volumes.items()
            for env_id, inst in vol["instances"].items()
            if env_id == id and self.visible(vid)
        ]
        services = [
            {
                "node": {
                    "id": f"si-{sid}",
                    "serviceId": sid,
                    "serviceName": self.services[sid]["name"],
                }
            }
            for (sid, env_id) in self.instances
            if env_id == id and sid in self.services and self.visible(sid)
        ]
        return {
            **env,
            "volumeInstances": {"edges": volumes},
            "serviceInstances": {"edges": services},
        }

    def m_environment_create(self, _info, input: dict[str, Any]) -> dict[str, Any]:
        self._need_account()
        project = self._project(input["projectId"])
        env = self._create_env(project["id"], input["name"])
        project["environment_ids"].append(env["id"])
        return env

    def m_environment_delete(self, _info, id: str) -> bool:
        self._need_account()
        env = self.environments.pop(id, None)
        if env is None:
            raise GraphQLError("Environment not found")
        self.projects[env["projectId"]]["environment_ids"].remove(id)
        return True

    def m_environment_patch_commit(
        self, _info, environmentId: str, patch: Any = None, commitMessage: str | None = None
    ) -> str:
        env = self.environments.get(environmentId)
        if env is None:
            raise GraphQLError("Environment not found")
        self._need_project(env["projectId"], environmentId)
        for service_id, config in ((patch or {}).get("services") or {}).items():
            service = self._service(service_id)
            ports = ((config or {}).get("networking") or {}).get("tcpProxies") or {}
            for port, wanted in ports.items():
                live = [
                    p
                    for p in self.proxies.values()
                    if p["serviceId"] == service_id
                    and p["environmentId"] == environmentId
                    and p["deletedAt"] is None
                ]
                if wanted is None:
                    for proxy in live:
                        proxy["deletedAt"], proxy["syncStatus"] = "2026-01-01T00:00:00Z", "DELETED"
                elif not any(p["applicationPort"] == int(port) for p in live):
                    if live:
                        raise GraphQLError("Only one TCP proxy is allowed per service instance")
                    self._new_proxy(service["id"], environmentId, int(port))
        return self.new_id("commit")

    # -- services -------------------------------------------------------------------

    def m_service_create(self, _info, input: dict[str, Any]) -> dict[str, Any]:
        self._need_project(input["projectId"], input.get("environmentId"))
        self._project(input["projectId"])
        service = {
            "id": self._born(self.new_id("svc")),
            "name": input["name"],
            "projectId": input["projectId"],
        }
        self.services[service["id"]] = service
        self.instances[(service["id"], input["environmentId"])] = {
            "startCommand": None,
            "source": (input.get("source") or None),
            "restartPolicyType": "ON_FAILURE",
            "restartPolicyMaxRetries": 10,
            "region": None,
        }
        return service

    def _service(self, service_id: str) -> dict[str, Any]:
        if service_id not in self.services:
            raise GraphQLError("Service not found")
        return self.services[service_id]

    def m_service_update(self, _info, id: str, input: dict[str, Any]) -> dict[str, Any]:
        service = self._service(id)
        self._need_project(service["projectId"])
        if input.get("name"):
            service["name"] = input["name"]
        return service

    def _drop_service(self, service_id: str) -> None:
        self.services.pop(service_id, None)
        for key in [k for k in self.instances if k[0] == service_id]:
            self.instances.pop(key)
        for key in [k for k in self.variables if k[2] == service_id]:
            self.variables.pop(key)
        for pid in [p for p, proxy in self.proxies.items() if proxy["serviceId"] == service_id]:
            self.proxies.pop(pid)

    def m_service_delete(self, _info, id: str, environmentId: str | None = None) -> bool:
        service = self._service(id)
        self._need_project(service["projectId"], environmentId)
        self._drop_service(id)
        return True

    def q_service_instance(self, _info, serviceId: str, environmentId: str) -> dict[str, Any]:
        service = self._service(serviceId)
        self._need_project(service["projectId"], environmentId)
        inst = self.instances.get((serviceId, environmentId))
        if inst is None:
            raise GraphQLError("ServiceInstance not found")
        return {
            "id": f"si-{serviceId}",
            "serviceId": serviceId,
            "serviceName": service["name"],
            "environmentId": environmentId,
            **inst,
        }

    def m_service_instance_update(
        self,
        _info,
        serviceId: str,
        input: dict[str, Any],
        environmentId: str | None = None,
    ) -> bool:
        service = self._service(serviceId)
        self._need_project(service["projectId"], environmentId)
        inst = self.instances[(serviceId, environmentId)]
        for key, value in input.items():
            inst[key] = value
        return True

    # -- deployments ------------------------------------------------------------------

    def m_deploy(self, _info, serviceId: str, environmentId: str, commitSha=None) -> str:
        service = self._service(serviceId)
        self._need_project(service["projectId"], environmentId)
        inst = self.instances[(serviceId, environmentId)]
        if not (inst.get("source") or {}).get("image"):
            raise GraphQLError("Service has no source to deploy")
        deployment = {
            "id": self._born(self.new_id("dep")),
            "status": self.deployment_status,
            "serviceId": serviceId,
            "environmentId": environmentId,
            "createdAt": "2026-01-01T00:00:00Z",
            "variables": dict(
                self.variables.get((service["projectId"], environmentId, serviceId), {})
            ),
            "image": inst["source"]["image"],
            "startCommand": inst.get("startCommand"),
        }
        self.deployments[deployment["id"]] = deployment
        return deployment["id"]

    def q_deployment(self, _info, id: str) -> dict[str, Any]:
        if id not in self.deployments:
            raise GraphQLError("Deployment not found")
        deployment = self.deployments[id]
        if self.status_script:
            deployment["status"] = self.status_script.pop(0)
        else:
            deployment["status"] = self.deployment_status
        return deployment

    def q_deployments(self, _info, input: dict[str, Any], **_paging) -> dict[str, Any]:
        service = self._service(input["serviceId"])
        self._need_project(service["projectId"], input.get("environmentId"))
        nodes = [
            d
            for d in self.deployments.values()
            if d["serviceId"] == input["serviceId"]
            and d["environmentId"] == input.get("environmentId")
            and self.visible(d["id"])
        ]
        return {"edges": [{"node": d} for d in reversed(nodes)]}

    def q_deployment_logs(self, _info, deploymentId: str, limit: int | None = None, **_kw):
        if deploymentId not in self.deployments:
            raise GraphQLError("Deployment not found")
        lines = self.log_lines[-(limit or len(self.log_lines)) :]
        return [
            {"timestamp": f"2026-01-01T00:00:{n:02d}Z", "message": m, "severity": "info"}
            for n, m in enumerate(lines)
        ]

    # -- volumes ----------------------------------------------------------------------

    def m_volume_create(self, _info, input: dict[str, Any]) -> dict[str, Any]:
        self._need_project(input["projectId"], input.get("environmentId"))
        self._project(input["projectId"])
        if input.get("serviceId"):
            self._service(input["serviceId"])
        volume = {
            "id": self._born(self.new_id("vol")),
            "name": f"volume-{len(self.volumes) + 1}",
            "projectId": input["projectId"],
            "region": input.get("region"),
            "instances": {
                input["environmentId"]: {
                    "mountPath": input["mountPath"],
                    "serviceId": input.get("serviceId"),
                }
            },
        }
        self.volumes[volume["id"]] = volume
        return volume

    def m_volume_instance_update(
        self,
        _info,
        volumeId: str,
        input: dict[str, Any],
        environmentId: str | None = None,
    ) -> bool:
        volume = self.volumes.get(volumeId)
        if volume is None:
            raise GraphQLError("Volume not found")
        self._need_project(volume["projectId"], environmentId)
        instance = volume["instances"][environmentId]
        if "mountPath" in input:
            instance["mountPath"] = input["mountPath"]
        # as the schema documents: no serviceId means the volume is disconnected
        instance["serviceId"] = input.get("serviceId")
        return True

    def m_volume_delete(self, _info, volumeId: str) -> bool:
        volume = self.volumes.get(volumeId)
        if volume is None:
            raise GraphQLError("Volume not found")
        self._need_project(volume["projectId"])
        self.volumes.pop(volumeId)
        return True

    def _volume_instance(self, volume_instance_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        for vid, vol in self.volumes.items():
            for inst in vol["instances"].values():
                if f"vi-{vid}" == volume_instance_id:
                    return vol, inst
        raise GraphQLError("VolumeInstance not found")

    def q_backup_schedules(self, _info, volumeInstanceId: str) -> list[dict[str, Any]]:
        vol, inst = self._volume_instance(volumeInstanceId)
        self._need_project(vol["projectId"])
        crons = {"DAILY": "0 3 * * *", "WEEKLY": "0 4 * * 0", "MONTHLY": "0 5 1 * *"}
        return [
            {"id": f"bs-{kind}", "kind": kind, "cron": crons[kind], "name": kind.lower()}
            for kind in inst.get("schedules", [])
        ]

    def m_backup_schedules(self, _info, volumeInstanceId: str, kinds: list[str]) -> bool:
        vol, inst = self._volume_instance(volumeInstanceId)
        self._need_project(vol["projectId"])
        inst["schedules"] = list(kinds)
        return True

    # -- variables --------------------------------------------------------------------

    def q_variables(
        self,
        _info,
        projectId: str,
        environmentId: str,
        serviceId: str | None = None,
        unrendered: bool | None = None,
    ) -> dict[str, str]:
        self._need_project(projectId, environmentId)
        values = dict(self.variables.get((projectId, environmentId, serviceId), {}))
        if not unrendered and serviceId in self.services:
            # what Railway adds to every service (rendered view only)
            values["RAILWAY_PRIVATE_DOMAIN"] = (
                f"{self.services[serviceId]['name']}.railway.internal"
            )
        return values

    def m_variables_upsert(self, _info, input: dict[str, Any]) -> bool:
        self._need_project(input["projectId"], input["environmentId"])
        if input.get("serviceId"):
            self._service(input["serviceId"])
        values = input["variables"]
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            raise GraphQLError("variables must be a map of strings")
        key = (input["projectId"], input["environmentId"], input.get("serviceId"))
        current = {} if input.get("replace") else self.variables.get(key, {})
        self.variables[key] = {**current, **values}
        return True

    def m_variable_delete(self, _info, input: dict[str, Any]) -> bool:
        self._need_project(input["projectId"], input["environmentId"])
        key = (input["projectId"], input["environmentId"], input.get("serviceId"))
        if input["name"] not in self.variables.get(key, {}):
            raise GraphQLError("Variable not found")
        del self.variables[key][input["name"]]
        return True

    # -- TCP proxies ------------------------------------------------------------------

    def q_tcp_proxies(self, _info, serviceId: str, environmentId: str) -> list[dict[str, Any]]:
        service = self._service(serviceId)
        self._need_project(service["projectId"], environmentId)
        return [
            p
            for p in self.proxies.values()
            if p["serviceId"] == serviceId
            and p["environmentId"] == environmentId
            and self.visible(p["id"])
        ]

    def _new_proxy(self, service_id: str, environment_id: str, port: int) -> dict[str, Any]:
        number = next(self.ids)
        proxy = {
            "id": self._born(f"tcp-{number:04d}"),
            "domain": f"shinkansen-{number}.proxy.rlwy.net",
            "proxyPort": 20000 + number,
            "applicationPort": port,
            "serviceId": service_id,
            "environmentId": environment_id,
            "syncStatus": "ACTIVE",
            "deletedAt": None,
        }
        self.proxies[proxy["id"]] = proxy
        return proxy

    def live_proxies(self) -> list[dict[str, Any]]:
        """Proxies that exist (not soft-deleted), for the tests' invariants."""
        return [p for p in self.proxies.values() if p["deletedAt"] is None]

    def m_tcp_proxy_delete(self, _info, id: str) -> bool:
        proxy = self.proxies.get(id)
        if proxy is None or proxy["deletedAt"] is not None:
            raise GraphQLError("TCPProxy not found")
        # Railway keeps the row for a while, marked deleted (its CLI filters these)
        proxy["deletedAt"], proxy["syncStatus"] = "2026-01-01T00:00:00Z", "DELETED"
        return True
