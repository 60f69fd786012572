"""The dynamic providers' create/diff/update/read/delete against the fake Railway.

The tests drive the providers the way the Pulumi engine does (check, then
diff against the previous outputs, then create/update/delete) and assert two
things: what Railway ends up holding, and what the user is told.
"""

from __future__ import annotations

import time

import pytest
from coachdb_infra.railway import providers as p
from coachdb_infra.railway.client import (
    RailwayAmbiguous,
    RailwayAuthError,
    RailwayError,
    RailwayNotFound,
)

from tests.railway.fake_railway import ACCOUNT_TOKEN, PROJECT_TOKEN, Fault

# variable values of the fake service (fake values; they never leave the test)
PW1 = "s3cret-value-1"  # pragma: allowlist secret
PW2 = "rotated-2"  # pragma: allowlist secret
PW3 = "changed-in-dashboard"  # pragma: allowlist secret


@pytest.fixture(autouse=True)
def fast_polling(monkeypatch):
    # the same code paths in hundredths of the real seconds; Retry-After is
    # honoured as sent (test_429_during_create_waits_retry_after)
    monkeypatch.setitem(p.TUNING, "poll_interval", 0.01)
    monkeypatch.setitem(p.TUNING, "lag_seconds", 0.3)
    monkeypatch.setitem(p.TUNING, "lag_poll", 0.02)
    monkeypatch.setitem(p.TUNING, "stable_seconds", 0.05)
    monkeypatch.setitem(p.CLIENT_TUNING, "backoff_base", 0.01)
    monkeypatch.setitem(p.CLIENT_TUNING, "min_backoff", 0.01)


def engine_create(provider, props):
    """check + create, as the engine does for a new resource."""
    checked = provider.check({}, props)
    assert not checked.failures, [f.reason for f in checked.failures]
    result = provider.create(checked.inputs)
    return result.id, result.outs


def engine_update(provider, id_, olds, news):
    """diff + (update if changes); returns (outs, diff)."""
    diff = provider.diff(id_, olds, news)
    if diff.changes and not diff.replaces:
        return provider.update(id_, olds, news).outs, diff
    return olds, diff


def stack(api, fake, *, variables=None, proxy=True):
    """Create the whole Railway graph; returns {name: (provider, id, inputs, outs)}."""
    made = {}

    def add(name, provider, inputs):
        id_, outs = engine_create(provider, inputs)
        made[name] = (provider, id_, inputs, outs)
        return outs

    project = add("project", p.ProjectProvider(), {**api, "name": "coach", "description": "db"})
    env = add(
        "env",
        p.EnvironmentProvider(),
        {**api, "project_id": project["project_id"], "name": "production"},
    )
    scope = {"project_id": project["project_id"], "environment_id": env["environment_id"]}
    service = add(
        "service",
        p.ServiceProvider(),
        {
            **api,
            **scope,
            "name": "postgres",
            "image": "postgres:14",
            "start_command": "x",
            "region": None,
        },
    )
    add(
        "volume",
        p.VolumeProvider(),
        {
            **api,
            **scope,
            "service_id": service["service_id"],
            "mount_path": "/var/lib/postgresql/data",
            "backup_schedules": ["WEEKLY", "DAILY"],
        },
    )
    if proxy:
        add(
            "proxy",
            p.TcpProxyProvider(),
            {
                **api,
                "environment_id": env["environment_id"],
                "service_id": service["service_id"],
                "application_port": 5432,
            },
        )
    variables = variables or {
        "POSTGRES_PASSWORD": PW1,
        "PGDATA": "/x/pgdata",
    }
    add(
        "variables",
        p.VariablesProvider(),
        {**api, **scope, "service_id": service["service_id"], "variables": variables},
    )
    add(
        "deployment",
        p.DeploymentProvider(),
        {
            **api,
            "environment_id": env["environment_id"],
            "service_id": service["service_id"],
            "trigger": "t1",
            "wait_seconds": 5,
        },
    )
    return made


def test_create_builds_the_expected_railway_state(api, fake):
    made = stack(api, fake)
    project_id = made["project"][1]
    env_id = made["env"][1]
    service_id = made["service"][1]
    assert fake.projects[project_id]["name"] == "coach"
    assert made["env"][3]["adopted"] is True  # the default environment is adopted, not created
    assert len(fake.projects[project_id]["environment_ids"]) == 1
    instance = fake.instances[(service_id, env_id)]
    assert instance["source"] == {"image": "postgres:14"}
    assert instance["startCommand"] == "x"
    assert instance["numReplicas"] == 1
    (volume,) = fake.volumes.values()
    assert volume["instances"][env_id] == {
        "mountPath": "/var/lib/postgresql/data",
        "serviceId": service_id,
        "schedules": ["DAILY", "WEEKLY"],
    }
    assert fake.variables[(project_id, env_id, service_id)]["POSTGRES_PASSWORD"] == PW1
    (proxy,) = fake.proxies.values()
    assert made["proxy"][3]["domain"] == proxy["domain"]
    assert made["proxy"][3]["proxy_port"] == proxy["proxyPort"]
    (deployment,) = fake.deployments.values()
    # the deploy happened after the variables were in place, once
    assert deployment["variables"]["POSTGRES_PASSWORD"] == PW1
    assert fake.mutations().count("serviceInstanceDeployV2") == 1
    # variables never trigger a deploy of their own
    upserts = [c for c in fake.calls if "variableCollectionUpsert" in c.op_names]
    assert all(c.variables["input"]["skipDeploys"] is True for c in upserts)


def test_second_up_without_changes_sends_no_mutation(api, fake):
    made = stack(api, fake)
    fake.reset_calls()
    for provider, id_, inputs, outs in made.values():
        checked = provider.check(outs, dict(inputs))
        _, diff = engine_update(provider, id_, outs, checked.inputs)
        assert diff.changes is False, type(provider).__name__
    assert fake.calls == []


def test_changed_variable_updates_only_that_variable_and_redeploys_once(api, fake):
    made = stack(api, fake)
    provider, id_, inputs, outs = made["variables"]
    fake.reset_calls()
    rotated = {"POSTGRES_PASSWORD": PW2}
    news = {**inputs, "variables": {**inputs["variables"], **rotated}}
    _outs, diff = engine_update(provider, id_, outs, news)
    assert diff.changes and not diff.replaces
    (call,) = fake.calls
    assert call.variables["input"]["variables"] == {"POSTGRES_PASSWORD": PW2}
    dprov, did, dinputs, douts = made["deployment"]
    engine_update(dprov, did, douts, {**dinputs, "trigger": "t2"})
    assert fake.mutations() == ["variableCollectionUpsert", "serviceInstanceDeployV2"]
    assert list(fake.deployments.values())[-1]["variables"]["POSTGRES_PASSWORD"] == PW2


def test_removed_variable_is_deleted_and_others_are_left_alone(api, fake):
    made = stack(api, fake)
    provider, id_, inputs, outs = made["variables"]
    key = (made["project"][1], made["env"][1], made["service"][1])
    fake.variables[key]["SET_IN_DASHBOARD"] = "keep me"
    news = {**inputs, "variables": {"POSTGRES_PASSWORD": PW1}}
    engine_update(provider, id_, outs, news)
    assert fake.variables[key] == {
        "POSTGRES_PASSWORD": PW1,
        "SET_IN_DASHBOARD": "keep me",
    }


def test_image_change_updates_the_instance_in_place(api, fake):
    made = stack(api, fake)
    provider, id_, inputs, outs = made["service"]
    fake.reset_calls()
    _outs, diff = engine_update(provider, id_, outs, {**inputs, "image": "postgres:14.23"})
    assert diff.changes and diff.replaces == []
    assert fake.mutations() == ["serviceInstanceUpdate"]
    assert fake.instances[(id_, made["env"][1])]["source"] == {"image": "postgres:14.23"}


def test_moving_the_volume_to_another_service_is_a_replacement(api, fake):
    made = stack(api, fake)
    provider, id_, inputs, outs = made["volume"]
    diff = provider.diff(id_, outs, {**inputs, "service_id": "svc-other"})
    assert diff.replaces == ["service_id"] and diff.delete_before_replace


def test_token_rotation_is_an_update_that_sends_nothing(api, fake):
    made = stack(api, fake)
    fake.account_tokens.add("acct-rotated-token-value")
    provider, id_, inputs, outs = made["service"]
    fake.reset_calls()
    new_outs, diff = engine_update(
        provider, id_, outs, {**inputs, "token": "acct-rotated-token-value"}
    )
    assert diff.changes is True
    assert fake.mutations() == []
    assert new_outs["token"] == "acct-rotated-token-value"  # destroy will use the new token


def test_read_reports_drift_and_gone_objects(api, fake):
    made = stack(api, fake)
    provider, id_, inputs, outs = made["service"]
    fake.instances[(id_, made["env"][1])]["source"] = {"image": "postgres:15"}
    read = provider.read(id_, outs)
    assert read.outs["image"] == "postgres:15"
    assert provider.diff(id_, read.outs, inputs).changes
    vprov, vid, _, vouts = made["variables"]
    key = (made["project"][1], made["env"][1], made["service"][1])
    fake.variables[key]["POSTGRES_PASSWORD"] = PW3
    assert vprov.read(vid, vouts).outs["variables"]["POSTGRES_PASSWORD"] == PW3
    pprov, pid, _, pouts = made["proxy"]
    fake.proxies.clear()
    assert pprov.read(pid, pouts).id is None


def test_destroy_removes_everything_it_created(api, fake):
    made = stack(api, fake)
    for provider, id_, _inputs, outs in reversed(list(made.values())):
        provider.delete(id_, outs)
    assert fake.projects == {} and fake.services == {} and fake.volumes == {}
    assert fake.live_proxies() == [] and fake.environments == {}


def test_adopted_project_and_environment_survive_destroy(api, fake):
    existing = fake.seed_project("team-project")
    provider = p.ProjectProvider()
    id_, outs = engine_create(provider, {**api, "name": "ignored", "adopt_id": existing["id"]})
    assert id_ == existing["id"] and outs["adopted"] is True
    eprov = p.EnvironmentProvider()
    eid, eouts = engine_create(eprov, {**api, "project_id": id_, "name": "production"})
    assert fake.mutations() == []
    eprov.delete(eid, eouts)
    provider.delete(id_, outs)
    assert existing["id"] in fake.projects and eid in fake.environments


def test_unknown_project_id_is_named_in_the_error(api, fake):
    with pytest.raises(
        RailwayNotFound, match=r"'prj-nope' \(coachdb:railwayProjectId\) does not exist"
    ):
        engine_create(p.ProjectProvider(), {**api, "name": "x", "adopt_id": "prj-nope"})


def test_project_token_without_project_id_fails_in_check(api):
    result = p.ProjectProvider().check({}, {**api, "token_kind": "project", "name": "x"})
    (failure,) = result.failures
    assert failure.property == "adopt_id" and "account/workspace token" in failure.reason


def test_project_token_works_inside_its_environment(api, fake):
    existing = fake.seed_project()
    env_id = existing["environments"]["edges"][0]["node"]["id"]
    fake.project_tokens[PROJECT_TOKEN] = (existing["id"], env_id)
    scoped = {**api, "token": PROJECT_TOKEN, "token_kind": "project"}
    pid, _ = engine_create(p.ProjectProvider(), {**scoped, "name": "x", "adopt_id": existing["id"]})
    eid, _ = engine_create(
        p.EnvironmentProvider(), {**scoped, "project_id": pid, "name": "production"}
    )
    sid, _ = engine_create(
        p.ServiceProvider(),
        {
            **scoped,
            "project_id": pid,
            "environment_id": eid,
            "name": "postgres",
            "image": "postgres:14",
        },
    )
    assert sid in fake.services
    with pytest.raises(RailwayError, match="project token cannot create environments"):
        engine_create(p.EnvironmentProvider(), {**scoped, "project_id": pid, "name": "staging"})


def test_bad_token_is_reported_with_the_token_kind_and_never_echoed(api, fake):
    bad = {**api, "token": "wrong-token-abcdef-123456"}
    with pytest.raises(RailwayAuthError) as err:
        engine_create(p.ProjectProvider(), {**bad, "name": "x"})
    assert "account token (sent as 'Authorization: Bearer')" in str(err.value)
    assert "wrong-token-abcdef-123456" not in str(err.value)
    assert fake.projects == {}


def test_5xx_during_create_is_retried_without_duplicates(api, fake):
    fake.faults.append(Fault(status=500, op="serviceCreate"))
    made = stack(api, fake, proxy=False)
    assert len(fake.services) == 1
    assert made["service"][1] in fake.services


def test_429_during_create_waits_retry_after(api, fake):
    fake.faults.append(Fault(status=429, headers={"Retry-After": "1"}, op="volumeCreate"))
    started = time.monotonic()
    stack(api, fake, proxy=False)
    assert time.monotonic() - started >= 1.0
    assert len(fake.volumes) == 1
    statuses = [c.status for c in fake.calls if "volumeCreate" in c.op_names]
    assert statuses == [429, 200]


def test_failed_instance_configuration_rolls_the_service_back(api, fake):
    made = stack(api, fake, proxy=False)
    scope = {"project_id": made["project"][1], "environment_id": made["env"][1]}
    fake.faults.append(
        Fault(errors=[{"message": "Invalid image reference"}], op="serviceInstanceUpdate")
    )
    with pytest.raises(RailwayError, match="Invalid image reference"):
        engine_create(p.ServiceProvider(), {**api, **scope, "name": "second", "image": "bad"})
    assert [s["name"] for s in fake.services.values()] == ["postgres"]


def test_timed_out_create_is_looked_up_then_sent_once_more(api, fake):
    # the first projectCreate never reached Railway's state: after the lookup
    # has not shown it for the lag window, it is sent once more
    fake.faults.append(Fault(delay=2.5, op="projectCreate", errors=[{"message": "slow"}]))
    engine_create(p.ProjectProvider(), {**api, "api_timeout": 1.0, "name": "x"})
    assert fake.mutations() == ["projectCreate", "projectCreate"]
    assert len(fake.projects) == 1


def test_create_whose_answer_never_comes_tells_the_user_to_run_up_again(api, fake):
    fake.faults.append(Fault(delay=2.5, op="projectCreate", errors=[{"message": "slow"}], times=2))
    with pytest.raises(RailwayAmbiguous, match=r"pulumi up. again: it looks project 'x' up"):
        engine_create(p.ProjectProvider(), {**api, "api_timeout": 1.0, "name": "x"})
    assert fake.projects == {}


def test_failed_deployment_says_where_to_look(api, fake):
    fake.deployment_status = "CRASHED"
    with pytest.raises(RailwayError, match=r"(?s)ended CRASHED.*Deployments tab"):
        stack(api, fake, proxy=False)


def test_delete_of_something_already_gone_succeeds(api, fake):
    made = stack(api, fake, proxy=False)
    provider, id_, _, outs = made["service"]
    fake.services.clear()
    provider.delete(id_, outs)  # no exception: the goal state is reached


def test_token_is_not_in_any_provider_error(api, fake):
    texts = []
    for fault in (
        Fault(status=401),
        Fault(status=503, times=5),
        Fault(errors=[{"message": f"echo {ACCOUNT_TOKEN}"}]),
    ):
        fake.faults.append(fault)
        with pytest.raises(RailwayError) as err:
            p.ServiceProvider().create(
                {**api, "project_id": "x", "environment_id": "y", "name": "n", "image": "i"}
            )
        texts += [str(err.value), repr(err.value)]
    assert texts and all(ACCOUNT_TOKEN not in t for t in texts)


def test_volume_backup_schedules_are_set_read_and_changed(api, fake):
    made = stack(api, fake, proxy=False)
    provider, id_, inputs, outs = made["volume"]
    instance = fake.volumes[id_]["instances"][made["env"][1]]
    assert instance["schedules"] == ["DAILY", "WEEKLY"]  # normalised order
    assert provider.read(id_, outs).outs["backup_schedules"] == ["DAILY", "WEEKLY"]
    fake.reset_calls()
    news = provider.check(outs, {**inputs, "backup_schedules": []}).inputs
    engine_update(provider, id_, outs, news)
    assert fake.mutations() == ["volumeInstanceBackupScheduleUpdate"]
    assert instance["schedules"] == []


def test_unknown_backup_schedule_fails_in_check(api):
    result = p.VolumeProvider().check(
        {},
        {
            **api,
            "project_id": "p",
            "environment_id": "e",
            "service_id": "s",
            "mount_path": "/d",
            "backup_schedules": ["HOURLY"],
        },
    )
    assert [f.property for f in result.failures] == ["backup_schedules"]


def _deployment_props(api, fake):
    made = stack(api, fake, proxy=False)
    return {
        **api,
        "environment_id": made["env"][1],
        "service_id": made["service"][1],
        "trigger": "t9",
        "wait_seconds": 60,
    }


def test_deployment_waits_for_success_with_growing_intervals(api, fake, monkeypatch):
    props = _deployment_props(api, fake)
    sleeps: list[float] = []
    monkeypatch.setattr(p.time, "sleep", sleeps.append)
    monkeypatch.setitem(p.TUNING, "poll_interval", 2.0)
    monkeypatch.setitem(p.TUNING, "stable_seconds", 0)
    fake.status_script = ["QUEUED", "BUILDING", "DEPLOYING", "DEPLOYING", "DEPLOYING"]
    _id, outs = engine_create(p.DeploymentProvider(), props)
    assert outs["status"] == "SUCCESS"
    assert sleeps == [2.0, 3.0, 4.5, 6.0, 6.0]  # backs off, capped at 3x


def test_deployment_that_never_finishes_is_reported(api, fake, monkeypatch):
    props = {**_deployment_props(api, fake), "wait_seconds": 0.05}
    fake.deployment_status = "DEPLOYING"
    with pytest.raises(RailwayError, match=r"still DEPLOYING after 0.05s .*; check its logs"):
        engine_create(p.DeploymentProvider(), props)
