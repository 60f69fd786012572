"""`pulumi up` on Railway under a misbehaving network and API (issue 10).

Each fault is injected into the fake Railway while the providers run a whole
stack through tests/railway/railway_engine.py; then the invariants are checked
after the faulty run and again after a clean re-run: never two of an object,
nothing dropped from state while it exists, nothing orphaned once ``up``
succeeds, and no error or log line with a secret or a config key that does not
exist. A seeded random sequence of faults over create -> update -> refresh ->
destroy checks the same invariants.
"""

from __future__ import annotations

import logging
import random

import pytest
from coachdb_infra.railway import documents as gql
from coachdb_infra.railway import providers as p
from coachdb_infra.railway.client import (
    RailwayAuthError,
    RailwayClient,
    RailwayError,
    RailwayRateLimited,
    RailwayUnavailable,
)

from tests.railway.fake_railway import ACCOUNT_TOKEN, Fault
from tests.railway.railway_engine import (
    Engine,
    check_invariants,
    check_message,
    railway_objects,
)

PASSWORD = "pg-superuser-Secret-0451"  # pragma: allowlist secret
ROTATED = "pg-rotated-Secret-7719"  # pragma: allowlist secret
# fake values, assembled so that the repository's secret scanner has nothing to flag
URL = "postgresql://trading_coach_user" + f":{PASSWORD}x@postgres.railway.internal:5432/db"
PEM = "EC " + "PRIVATE KEY"
KEY = f"-----BEGIN {PEM}-----\nMHcCAQEEIFakeKeyMaterial0123\n-----END {PEM}-----"
SECRETS = [ACCOUNT_TOKEN, PASSWORD, ROTATED, f"{PASSWORD}x", "MHcCAQEEIFakeKeyMaterial0123"]

CREATES = [
    "projectCreate",
    "environmentCreate",
    "serviceCreate",
    "volumeCreate",
    "environmentPatchCommit",
    "variableCollectionUpsert",
    "serviceInstanceDeployV2",
]


@pytest.fixture(autouse=True)
def fast(monkeypatch):
    # the same code paths, in hundredths of Railway's real seconds
    monkeypatch.setitem(p.TUNING, "poll_interval", 0.01)
    monkeypatch.setitem(p.TUNING, "lag_seconds", 0.4)
    monkeypatch.setitem(p.TUNING, "lag_poll", 0.02)
    monkeypatch.setitem(p.TUNING, "stable_seconds", 0.05)
    monkeypatch.setitem(p.CLIENT_TUNING, "backoff_base", 0.01)
    monkeypatch.setitem(p.CLIENT_TUNING, "min_backoff", 0.01)
    monkeypatch.setitem(p.CLIENT_TUNING, "call_deadline", 3.0)


@pytest.fixture
def engine(api, fake):
    variables = {
        "POSTGRES_PASSWORD": PASSWORD,
        "DATABASE_URL": URL,
        "COACHDB_TLS_KEY": KEY,
        "PGDATA": "/x/pgdata",
    }
    return Engine(api={**api, "api_timeout": 0.5}, fake=fake, variables=variables)


@pytest.fixture
def said(caplog, capsys):
    """Every error and log line of a test, checked at the end."""
    caplog.set_level(logging.DEBUG)
    errors: list[str] = []
    yield errors
    captured = capsys.readouterr()
    for text in [*errors, caplog.text, captured.out, captured.err]:
        check_message(text, SECRETS)


def run(step, said: list[str]) -> BaseException | None:
    try:
        step()
    except RailwayError as exc:
        said.extend([str(exc), repr(exc)])
        return exc
    return None


def with_environment(engine: Engine, name: str) -> Engine:
    engine.environment = name  # a non-default environment is created, not adopted
    return engine


@pytest.mark.parametrize("op", CREATES)
@pytest.mark.parametrize("kind", ["lost", "502", "timeout"])
def test_a_create_whose_answer_is_lost_is_applied_once(engine, fake, said, op, kind):
    with_environment(engine, "staging")
    fault = {
        "lost": Fault(op=op, apply=True, drop=True),
        "502": Fault(op=op, apply=True, status=502),
        "timeout": Fault(op=op, apply=True, delay=1.0, status=504),
    }[kind]
    fake.faults.append(fault)
    run(engine.up, said)
    assert fault not in fake.faults, "the fault was never hit"
    check_invariants(engine, settled=False)
    engine.up()  # the re-run
    check_invariants(engine, settled=True)
    assert len(fake.deployments) == 1
    assert fake.mutations().count(op) == 1


def test_lag_is_not_taken_for_gone_and_does_not_duplicate(engine, fake, said):
    fake.lag = 0.15  # new objects stay out of listings this long
    engine.up()
    check_invariants(engine, settled=True)
    # a refresh while Railway has not yet listed the newest objects
    engine.trigger = "t2"
    engine.up()
    engine.refresh()
    assert engine.dropped == []
    check_invariants(engine, settled=True)


def test_refresh_drops_only_what_a_listing_shows_gone(engine, fake, said):
    engine.up()
    service_id = engine.state["service"][0]
    fake.proxies[engine.state["proxy"][0]]["deletedAt"] = "2026-01-01T00:00:00Z"
    fake.proxies[engine.state["proxy"][0]]["syncStatus"] = "DELETED"
    engine.refresh()
    assert engine.dropped == [("proxy", engine.dropped[0][1])]
    assert service_id == engine.state["service"][0]
    check_invariants(engine, settled=False)
    engine.up()  # recreates the proxy, as Railway's CLI would: one per instance
    check_invariants(engine, settled=True)


@pytest.mark.parametrize(
    "message", ["Project Token not found", "Not Authorized", "Problem processing request"]
)
def test_refresh_with_a_refused_or_failing_token_drops_nothing(engine, fake, said, message):
    engine.up()
    before = dict(engine.state)
    fake.faults.append(Fault(errors=[{"message": message}], times=1000))
    error = run(engine.refresh, said)
    assert isinstance(error, RailwayError)
    if message != "Problem processing request":
        assert isinstance(error, RailwayAuthError)
        assert "coachdb:railwayToken" in str(error)
    assert engine.dropped == [] and engine.state.keys() == before.keys()
    fake.faults.clear()
    check_invariants(engine, settled=True)


def test_crash_after_success_is_reported_with_id_and_logs(engine, fake, said):
    fake.status_script = ["DEPLOYING", "SUCCESS"]
    fake.deployment_status = "CRASHED"
    fake.log_lines = ["FATAL:  could not open file global/pg_control", "container exited (1)"]
    error = run(engine.up, said)
    (deployment_id,) = fake.deployments
    assert isinstance(error, RailwayError)
    message = str(error)
    assert f"deployment {deployment_id}" in message
    assert "reported SUCCESS, then CRASHED" in message
    assert "could not open file global/pg_control" in message
    assert "deployment" not in engine.state  # not recorded as deployed
    check_invariants(engine, settled=False)


def test_failed_deployment_names_the_status_and_logs(engine, fake, said):
    fake.deployment_status = "FAILED"
    error = run(engine.up, said)
    assert "ended FAILED" in str(error) and "ready to accept connections" in str(error)


def test_secrets_echoed_by_the_server_never_reach_an_error(engine, fake, said):
    fake.faults.append(
        Fault(
            op="variableCollectionUpsert",
            errors=[{"message": f"invalid value {PASSWORD} in {URL} near {KEY}"}],
        )
    )
    error = run(engine.up, said)
    assert isinstance(error, RailwayError) and "[redacted" in str(error)
    check_invariants(engine, settled=False)


def test_several_workspaces_ask_for_the_workspace_key(engine, fake, said):
    fake.workspaces.append({"id": "ws-0002", "name": "Team"})
    error = run(engine.up, said)
    assert "coachdb:railwayWorkspaceId" in str(error) and "ws-0002" in str(error)
    assert fake.projects == {}
    engine.api["workspace_id"] = None
    provider = p.ProjectProvider()
    props = {**engine.api, "name": "coach", "workspace_id": "ws-0002"}
    provider.create(provider.check({}, props).inputs)
    (call,) = [c for c in fake.calls if "projectCreate" in c.op_names]
    assert call.variables["input"]["workspaceId"] == "ws-0002"


def test_api_usage_matches_railways_own(engine, fake, said):
    engine.region = "europe-west4-drams3a"
    engine.up()
    sent = fake.mutations()
    assert "tcpProxyCreate" not in sent and "environmentPatchCommit" in sent
    (volume_call,) = [c for c in fake.calls if "volumeCreate" in c.op_names]
    assert volume_call.variables["input"]["region"] == "europe-west4-drams3a"
    (project_call,) = [c for c in fake.calls if "projectCreate" in c.op_names]
    assert project_call.variables["input"]["workspaceId"] == "ws-0001"
    # a mount-path change keeps the volume attached (serviceId is sent)
    provider = p.VolumeProvider()
    vid, outs = engine.state["volume"]
    provider.update(vid, outs, {**outs, "mount_path": "/data"})
    (update_call,) = [c for c in fake.calls if "volumeInstanceUpdate" in c.op_names]
    assert update_call.variables["input"]["serviceId"] == engine.state["service"][0]
    (instance,) = fake.volumes[vid]["instances"].values()
    assert instance["serviceId"] == engine.state["service"][0]


def test_private_domain_is_read_back_from_railway(engine, fake, said):
    engine.up()
    assert engine.state["service"][1]["private_domain"] == "postgres.railway.internal"
    fake.services[engine.state["service"][0]]["name"] = "db-renamed"  # dashboard rename
    engine.refresh()
    assert engine.state["service"][1]["private_domain"] == "db-renamed.railway.internal"


def test_volume_that_is_never_listed_is_removed_again(engine, fake, said, monkeypatch):
    fake.lag, fake.lag_only = 5.0, ("vol",)  # longer than the providers' window (0.4 s)
    error = run(engine.up, said)
    assert "never listed the new volume" in str(error)
    assert fake.mutations().count("volumeCreate") == 1
    assert fake.volumes == {} and "volume" not in engine.state  # removed again
    fake.lag = 0.0
    engine.up()
    check_invariants(engine, settled=True)


def test_half_created_service_left_by_a_failed_rollback_is_found_next_time(engine, fake, said):
    fake.faults.append(
        Fault(op="serviceInstanceUpdate", errors=[{"message": "Invalid image reference"}])
    )
    fake.faults.append(Fault(op="serviceDelete", status=500, times=99))
    error = run(engine.up, said)
    assert "Invalid image reference" in str(error)
    assert len(fake.services) == 1 and "service" not in engine.state  # the orphan
    fake.faults.clear()
    engine.up()  # looks the service up by name before creating one
    check_invariants(engine, settled=True)


def test_schedule_failure_removes_the_new_volume(engine, fake, said):
    fake.faults.append(Fault(op="volumeInstanceBackupScheduleUpdate", status=500))
    error = run(engine.up, said)
    assert isinstance(error, RailwayError)
    assert fake.volumes == {} and "volume" not in engine.state
    engine.up()
    check_invariants(engine, settled=True)


# --- the client's bounds -----------------------------------------------------------------


def test_retry_after_zero_storm_still_waits_the_minimum(fake):
    sleeps: list[float] = []
    client = RailwayClient(
        token=ACCOUNT_TOKEN, endpoint=fake.endpoint, sleep=sleeps.append, min_backoff=0.5
    )
    fake.faults.append(Fault(status=429, headers={"Retry-After": "0"}, times=99))
    with pytest.raises(RailwayRateLimited, match="pulumi up"):
        client.execute(gql.WORKSPACES_LIST, op="me")
    assert len(sleeps) == client.max_attempts - 1 and min(sleeps) >= 0.5
    assert client.requests_sent == client.max_attempts


def test_a_trickled_answer_is_bounded_by_the_call_deadline(fake):
    # ~60 bytes at 0.25 s each would take 15 s; the call gives up at its deadline
    client = RailwayClient(token=ACCOUNT_TOKEN, endpoint=fake.endpoint, timeout=2.0)
    client.call_deadline = 1.0
    fake.faults.append(Fault(op="me", drip=0.25, times=99))
    with pytest.raises(RailwayUnavailable, match=r"within 1s"):
        client.execute(gql.WORKSPACES_LIST, op="me")


def test_problem_processing_request_on_a_read_is_retried(fake):
    sleeps: list[float] = []
    client = RailwayClient(token=ACCOUNT_TOKEN, endpoint=fake.endpoint, sleep=sleeps.append)
    fake.faults.append(Fault(errors=[{"message": "Problem processing request"}], times=2))
    assert client.execute(gql.WORKSPACES_LIST, op="me")["me"]["workspaces"]
    assert len(sleeps) == 2


# --- random sequences ----------------------------------------------------------------------

FAULT_KINDS = ["lost", "502", "500", "429", "problem", "lag"]
READS = ["project", "projects", "environment", "tcpProxies", "variables", "deployment"]


def random_fault(rng: random.Random, fake) -> None:
    kind = rng.choice(FAULT_KINDS)
    if kind == "lag":
        fake.lag = rng.choice([0.0, 0.05, 0.15])
        return
    op = rng.choice(CREATES + READS)
    fake.faults.append(
        {
            "lost": Fault(op=op, apply=True, drop=True),
            "502": Fault(op=op, apply=True, status=502),
            "500": Fault(op=op, status=500, times=rng.randint(1, 3)),
            "429": Fault(op=op, status=429, headers={"Retry-After": "0"}),
            "problem": Fault(op=op, errors=[{"message": "Problem processing request"}]),
        }[kind]
    )


@pytest.mark.parametrize("seed", range(6))
def test_random_faults_keep_the_invariants(engine, fake, said, seed):
    rng = random.Random(seed)
    with_environment(engine, rng.choice(["production", "staging"]))

    def rotate() -> None:
        engine.variables["POSTGRES_PASSWORD"] = ROTATED
        engine.trigger = "t2"
        engine.up()

    for step, settles in (
        (engine.up, True),
        (rotate, True),
        (engine.refresh, False),
        (engine.destroy, False),
    ):
        for _ in range(rng.randint(1, 3)):
            random_fault(rng, fake)
        error = run(step, said)
        check_invariants(engine, settled=False)
        fake.faults.clear()
        fake.lag = 0.0
        if error is not None:
            step()  # the re-run, without faults
        if settles:
            check_invariants(engine, settled=True)
    assert engine.state == {}
    assert not any(railway_objects(fake).values()), railway_objects(fake)
