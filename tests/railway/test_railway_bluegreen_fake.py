"""The blue/green Railway stack's declared graph, replayed against the fake Railway API.

Why: the mock tests (test_railway_program.py) show what the program declares; this
shows that Railway can hold it. The program runs under the mocks with
``coachdb:greenMajor 17``; each declared Railway resource is then created, in the order
the program registered it (its dependencies first), by the real dynamic provider
against the fake Railway (tests/railway/fake_railway.py, built on Railway's vendored
schema), with every id the mocks had made up replaced by the one the fake returned.
Two deliberate gaps: the deployments' probe (a TLS login to PostgreSQL through the
proxy) is left out, and the role models (SQL through the proxy) are not replayed --
the fake has no PostgreSQL behind it; tests/railway/test_railway_container.py covers those.

Then: one project and environment holding both services side by side, each with its own
volume, TCP proxy, variables and deployment; a second replay with ``activeSide green``
changes no Railway object (the switch is outputs only); removing the green side leaves
blue untouched.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pulumi_mocks
import pytest
from coachdb_infra.railway import providers as p
from pulumi_mocks import DYN, RailwayMocks, run_program

from tests.railway.fake_railway import ACCOUNT_TOKEN

PROVIDERS: dict[str, type[p._RailwayProvider]] = {
    "Project": p.ProjectProvider,
    "Environment": p.EnvironmentProvider,
    "Service": p.ServiceProvider,
    "Volume": p.VolumeProvider,
    "TcpProxy": p.TcpProxyProvider,
    "Variables": p.VariablesProvider,
    "Deployment": p.DeploymentProvider,
}
# the outputs the mocks compute for each kind (pulumi_mocks.RailwayMocks)
COMPUTED = (
    "project_id",
    "environment_id",
    "service_id",
    "volume_id",
    "domain",
    "proxy_port",
    "deployment_id",
    "private_domain",
)


@pytest.fixture(autouse=True)
def fast_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(p.TUNING, "poll_interval", 0.01)
    monkeypatch.setitem(p.TUNING, "lag_seconds", 0.3)
    monkeypatch.setitem(p.TUNING, "lag_poll", 0.02)
    monkeypatch.setitem(p.TUNING, "stable_seconds", 0.05)
    monkeypatch.setitem(p.CLIENT_TUNING, "backoff_base", 0.01)
    monkeypatch.setitem(p.CLIENT_TUNING, "min_backoff", 0.01)


def declared(
    monkeypatch: pytest.MonkeyPatch, endpoint: str, **extra: str
) -> pulumi_mocks.ProgramRun:
    monkeypatch.setattr(pulumi_mocks, "CoachdbMocks", RailwayMocks)
    pulumi_mocks.ensure_event_loop()
    config = {
        "target": "railway",
        "railwayToken": ACCOUNT_TOKEN,
        "railwayApiEndpoint": endpoint,
        "greenMajor": "17",
        **extra,
    }
    return run_program(config, secret_keys=("railwayToken",))


def _swap(value: Any, ids: dict[Any, Any]) -> Any:
    if isinstance(value, dict):
        return {k: _swap(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_swap(v, ids) for v in value]
    return ids.get(value, value) if isinstance(value, (str, float, int)) else value


def replay(run: pulumi_mocks.ProgramRun) -> dict[str, tuple[str, dict[str, Any]]]:
    """Create each declared Railway resource; returns {resource name: (id, outputs)}."""
    ids: dict[Any, Any] = {}
    state: dict[str, tuple[str, dict[str, Any]]] = {}
    for reg in run.registrations:
        kind = reg.typ[len(DYN) :] if reg.typ.startswith(DYN) else None
        if kind not in PROVIDERS:
            continue
        provider = PROVIDERS[kind]()
        props = _swap({k: v for k, v in reg.inputs.items() if k != "__provider"}, ids)
        if kind == "Deployment":
            props["probe"] = None  # no PostgreSQL behind the fake's proxy
        # what the mocks answered for this resource (the ids later inputs carry)
        mock_outs = RailwayMocks().new_resource(
            SimpleNamespace(typ=reg.typ, name=reg.name, inputs=reg.raw_inputs)
        )[1]
        checked = provider.check({}, props)
        assert not checked.failures, (reg.name, [f.reason for f in checked.failures])
        result = provider.create(checked.inputs)
        state[reg.name] = (result.id, result.outs)
        outs = result.outs
        for key in COMPUTED:
            if key in mock_outs and key in outs and key not in props:
                ids[mock_outs[key]] = outs[key]
    return state


# inputs that carry generated secrets or certificates (fresh on every mocked run)
GENERATED = {"variables", "trigger", "probe", "token"}


def structure(run: pulumi_mocks.ProgramRun) -> dict[str, dict[str, Any]]:
    found = {}
    for reg in run.registrations:
        if reg.typ.startswith(DYN) and reg.typ[len(DYN) :] in PROVIDERS:
            found[reg.name] = {k: v for k, v in reg.inputs.items() if k not in GENERATED}
            if "variables" in reg.inputs:
                found[reg.name]["variable names"] = sorted(reg.inputs["variables"])
                found[reg.name]["DATABASE_URL host"] = (
                    reg.inputs["variables"]["DATABASE_URL"].split("@")[1].split("/")[0]
                )
    return found


def test_both_sides_live_side_by_side_on_railway(monkeypatch, fake, api) -> None:
    run = declared(monkeypatch, fake.endpoint)
    made = replay(run)
    assert len(fake.projects) == 1 and len(fake.environments) >= 1
    services = {s["name"]: sid for sid, s in fake.services.items()}
    assert set(services) == {"postgres", "postgres-17"}
    # each service has its own volume, proxy, variables and deployment
    volume_services = sorted(
        next(iter(v["instances"].values())).get("serviceId") for v in fake.volumes.values()
    )
    assert volume_services == sorted(services.values())
    assert sorted(x["serviceId"] for x in fake.proxies.values()) == sorted(services.values())
    assert sorted(d["serviceId"] for d in fake.deployments.values()) == sorted(services.values())
    by_service = {key[2]: values for key, values in fake.variables.items()}
    for name, sid in services.items():
        assert by_service[sid]["DATABASE_URL"].split("@")[1].startswith(f"{name}.railway.internal:")
    # images: each side its major
    images = {
        fake.services[sid]["name"]: inst.get("source") for (sid, _), inst in fake.instances.items()
    }
    assert images == {
        "postgres": {"image": "postgres:14.23-bookworm"},
        "postgres-17": {"image": "postgres:17.10-bookworm"},
    }

    # the switch: with activeSide green the program declares the same Railway objects
    # with the same inputs (the certificates and passwords the mocks make up afresh aside)
    switched = declared(monkeypatch, fake.endpoint, activeSide="green")
    assert switched.outputs["private_host"] == "postgres-17.railway.internal"
    assert structure(switched) == structure(run)

    # clean-up of the green side only (e.g. a failed upgrade): blue stays whole
    for name in (
        "railway-deployment-green",
        "railway-variables-green",
        "railway-tcp-proxy-green",
        "railway-pgdata-green",
        "railway-postgres-green",
    ):
        kind = next(r.typ[len(DYN) :] for r in run.registrations if r.name == name)
        id_, outs = made[name]
        PROVIDERS[kind]().delete(id_, outs)
    assert [s["name"] for s in fake.services.values()] == ["postgres"]
    assert len(fake.volumes) == len(fake.proxies) == 1
    assert next(iter(fake.proxies.values()))["serviceId"] == services["postgres"]
