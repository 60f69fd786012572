"""A miniature Pulumi engine over the Railway providers, and the invariants faults must keep.

The fault tests drive ``up`` / ``refresh`` / ``destroy`` the way the engine
does (check, diff, create/update/delete in dependency order; a failing
resource stops the run and leaves what was done in state) against the fake
Railway, then check what must hold whatever went wrong:

* never two of an object (project, environment, service, volume, live TCP
  proxy, deployment per deploy request);
* every object in state exists on Railway, and an object dropped from state by
  a refresh does not exist;
* after a successful ``up``: exactly one of each, all of them in state;
* every error and log line names only real config keys and holds no secret.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from coachdb_infra.railway import providers as p
from coachdb_infra.railway.client import CONFIG_KEYS

from tests.railway.fake_railway import FakeRailway

PROJECT = "coach"
SERVICE = "postgres"
MOUNT = "/var/lib/postgresql/data"
PORT = 5432
_KEY = re.compile(r"\b(?:coachdb|railway):[A-Za-z]+")


@dataclass
class Engine:
    api: dict[str, Any]
    fake: FakeRailway
    variables: dict[str, str]
    environment: str = "production"
    trigger: str = "t1"
    region: str | None = None
    state: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    dropped: list[tuple[str, str]] = field(default_factory=list)
    deploy_requests: int = 0

    def _out(self, name: str, key: str) -> Any:
        return self.state[name][1][key]

    def _specs(self) -> list[tuple[str, p._RailwayProvider, Any]]:
        def scope() -> dict[str, Any]:
            return {
                "project_id": self._out("project", "project_id"),
                "environment_id": self._out("env", "environment_id"),
            }

        return [
            ("project", p.ProjectProvider(), lambda: {"name": PROJECT, "description": "db"}),
            (
                "env",
                p.EnvironmentProvider(),
                lambda: {
                    "project_id": self._out("project", "project_id"),
                    "name": self.environment,
                    "project_environments": self._out("project", "environment_ids"),
                },
            ),
            (
                "service",
                p.ServiceProvider(),
                lambda: {
                    **scope(),
                    "name": SERVICE,
                    "image": "postgres:14",
                    "start_command": "x",
                    "region": self.region,
                },
            ),
            (
                "volume",
                p.VolumeProvider(),
                lambda: {
                    **scope(),
                    "service_id": self._out("service", "service_id"),
                    "mount_path": MOUNT,
                    "backup_schedules": ["DAILY"],
                    "region": self.region,
                },
            ),
            (
                "proxy",
                p.TcpProxyProvider(),
                lambda: {
                    "environment_id": self._out("env", "environment_id"),
                    "service_id": self._out("service", "service_id"),
                    "application_port": PORT,
                },
            ),
            (
                "variables",
                p.VariablesProvider(),
                lambda: {
                    **scope(),
                    "service_id": self._out("service", "service_id"),
                    "variables": dict(self.variables),
                },
            ),
            (
                "deployment",
                p.DeploymentProvider(),
                lambda: {
                    "environment_id": self._out("env", "environment_id"),
                    "service_id": self._out("service", "service_id"),
                    "trigger": self.trigger,
                    "wait_seconds": 5,
                },
            ),
        ]

    def up(self) -> None:
        for name, provider, make in self._specs():
            inputs = {**self.api, **make()}
            olds = self.state.get(name, (None, {}))[1]
            checked = provider.check(olds, inputs)
            assert not checked.failures, [f.reason for f in checked.failures]
            news = checked.inputs
            if name in self.state:
                id_, outs = self.state[name]
                diff = provider.diff(id_, outs, news)
                if diff.replaces:
                    provider.delete(id_, outs)
                    del self.state[name]
                elif diff.changes:
                    if name == "deployment" and outs.get("trigger") != news.get("trigger"):
                        self.deploy_requests += 1
                    self.state[name] = (id_, provider.update(id_, outs, news).outs)
                    continue
                else:
                    continue
            if name == "deployment":
                self.deploy_requests += 1
            result = provider.create(news)
            self.state[name] = (result.id, result.outs)

    def refresh(self) -> None:
        for name, provider, _make in self._specs():
            if name not in self.state:
                continue
            id_, outs = self.state[name]
            result = provider.read(id_, outs)
            if result.id is None:
                self.dropped.append((name, id_))
                del self.state[name]
            else:
                self.state[name] = (result.id, result.outs)

    def destroy(self) -> None:
        for name, provider, _make in reversed(self._specs()):
            if name in self.state:
                id_, outs = self.state[name]
                provider.delete(id_, outs)
                del self.state[name]


# --- invariants -----------------------------------------------------------------------


def railway_objects(fake: FakeRailway) -> dict[str, list[str]]:
    """Ids of the objects this stack may own, by kind, as Railway holds them."""
    projects = [pid for pid, prj in fake.projects.items() if prj["name"] == PROJECT]
    envs = [
        eid
        for eid, env in fake.environments.items()
        if env["projectId"] in projects and env["name"] != "production"
    ]
    services = [
        sid
        for sid, svc in fake.services.items()
        if svc["projectId"] in projects and svc["name"] == SERVICE
    ]
    volumes = [
        vid
        for vid, vol in fake.volumes.items()
        if any(inst.get("serviceId") in services for inst in vol["instances"].values())
        or vol["projectId"] in projects
    ]
    proxies = [px["id"] for px in fake.live_proxies() if px["serviceId"] in services]
    return {
        "project": projects,
        "env": envs,
        "service": services,
        "volume": volumes,
        "proxy": proxies,
    }


def check_invariants(engine: Engine, *, settled: bool) -> None:
    """What must hold after any step; ``settled``: after a successful ``up``."""
    fake = engine.fake
    objects = railway_objects(fake)
    for kind, ids in objects.items():
        assert len(ids) <= 1, f"duplicate {kind}: {ids}"
    per_env = {}
    for env in fake.environments.values():
        key = (env["projectId"], env["name"])
        per_env[key] = per_env.get(key, 0) + 1
    assert all(n == 1 for n in per_env.values()), f"duplicate environment: {per_env}"
    assert len(fake.deployments) <= engine.deploy_requests, (
        f"{len(fake.deployments)} deployments for {engine.deploy_requests} deploy requests"
    )
    # nothing in state that Railway does not have
    for kind in ("project", "service", "volume", "proxy"):
        if kind in engine.state:
            assert engine.state[kind][0] in objects[kind], f"{kind} in state but not on Railway"
    # nothing dropped from state while it exists
    for kind, id_ in engine.dropped:
        assert id_ not in objects.get(kind, []), f"{kind} {id_} dropped from state but exists"
    if settled:
        for kind in ("project", "service", "volume", "proxy"):
            assert objects[kind] == [engine.state[kind][0]], f"{kind}: {objects[kind]}"
        if engine.environment != "production":
            assert objects["env"] == [engine.state["env"][0]]


def check_message(text: str, secrets: list[str]) -> None:
    """No secret; every config key it names exists."""
    for secret in secrets:
        assert secret not in text, f"secret in: {text}"
    for key in _KEY.findall(text):
        assert key in CONFIG_KEYS, f"unknown config key {key} in: {text}"
