"""The Railway HTTP client against the fake server: retries, timeouts, messages, secrecy."""

from __future__ import annotations

import logging

import pytest
from coachdb_infra.railway import documents as gql
from coachdb_infra.railway.client import (
    RailwayAmbiguous,
    RailwayAuthError,
    RailwayClient,
    RailwayError,
    RailwayOutcomeUnknown,
    RailwayRateLimited,
    RailwayUnavailable,
    parse_retry_after,
)

from tests.railway.fake_railway import ACCOUNT_TOKEN, PROJECT_TOKEN, Fault


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def client(fake, sleeps):
    return RailwayClient(
        token=ACCOUNT_TOKEN, endpoint=fake.endpoint, timeout=2.0, sleep=sleeps.append
    )


def create_project(client: RailwayClient, name: str = "p") -> dict:
    return client.execute(gql.PROJECT_CREATE, {"input": {"name": name}}, op="projectCreate")[
        "projectCreate"
    ]


def test_sends_bearer_header_and_returns_data(fake, client):
    project = create_project(client, "coach")
    assert project["name"] == "coach"
    assert fake.calls[-1].headers["authorization"] == f"Bearer {ACCOUNT_TOKEN}"
    assert project["id"] in fake.projects


def test_project_token_uses_its_own_header(fake):
    project = fake.seed_project()
    env_id = project["environments"]["edges"][0]["node"]["id"]
    fake.project_tokens[PROJECT_TOKEN] = (project["id"], env_id)
    client = RailwayClient(token=PROJECT_TOKEN, token_kind="project", endpoint=fake.endpoint)
    data = client.execute(gql.PROJECT_GET, {"id": project["id"]}, op="project")
    assert data["project"]["id"] == project["id"]
    assert fake.calls[-1].headers["project-access-token"] == PROJECT_TOKEN
    assert "authorization" not in fake.calls[-1].headers


def test_429_waits_what_retry_after_says_then_succeeds(fake, client, sleeps):
    fake.faults.append(Fault(status=429, headers={"Retry-After": "7"}, op="projectCreate"))
    create_project(client)
    assert sleeps == [7.0]
    assert [c.status for c in fake.calls] == [429, 200]


def test_429_with_a_long_wait_stops_with_an_explanation(fake, client, sleeps):
    fake.faults.append(Fault(status=429, headers={"Retry-After": "3600"}))
    with pytest.raises(RailwayRateLimited, match=r"per hour.*pulumi up") as err:
        create_project(client)
    assert "3600" in str(err.value)
    assert sleeps == [] and len(fake.calls) == 1
    assert not fake.projects  # nothing was created


def get_project(client: RailwayClient, project_id: str) -> dict:
    return client.execute(gql.PROJECT_GET, {"id": project_id}, op="project")["project"]


def test_5xx_on_a_query_is_retried_with_growing_backoff(fake, client, sleeps):
    project = fake.seed_project()
    fake.faults.append(Fault(status=500, times=2))
    assert get_project(client, project["id"])["id"] == project["id"]
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0] * 0.9
    assert [c.status for c in fake.calls] == [500, 500, 200]


def test_5xx_on_a_mutation_is_not_resent(fake, client, sleeps):
    fake.faults.append(Fault(status=502, apply=True))
    with pytest.raises(RailwayOutcomeUnknown, match="not re-sent"):
        create_project(client)
    assert fake.mutations() == ["projectCreate"] and sleeps == []
    assert len(fake.projects) == 1  # Railway applied it; the caller must look it up


def test_5xx_retries_are_bounded(fake, client, sleeps):
    fake.faults.append(Fault(status=503, times=99))
    with pytest.raises(RailwayUnavailable, match="HTTP 503"):
        get_project(client, "prj-x")
    assert len(fake.calls) == client.max_attempts
    assert len(sleeps) == client.max_attempts - 1
    assert all(s <= client.backoff_cap for s in sleeps)


def test_timed_out_query_is_retried(fake, sleeps):
    project = fake.seed_project()
    client = RailwayClient(
        token=ACCOUNT_TOKEN, endpoint=fake.endpoint, timeout=0.5, sleep=sleeps.append
    )
    fake.faults.append(Fault(delay=1.5, op="project", errors=[{"message": "late"}]))
    data = client.execute(gql.PROJECT_GET, {"id": project["id"]}, op="project")
    assert data["project"]["id"] == project["id"]
    assert len(sleeps) == 1


def test_timed_out_mutation_is_not_retried_and_says_refresh(fake, sleeps):
    client = RailwayClient(
        token=ACCOUNT_TOKEN, endpoint=fake.endpoint, timeout=0.5, sleep=sleeps.append
    )
    fake.faults.append(Fault(delay=1.5, op="projectCreate", errors=[{"message": "late"}]))
    with pytest.raises(RailwayAmbiguous, match="not re-sent"):
        create_project(client)
    assert sleeps == []
    assert fake.mutations() == ["projectCreate"]  # sent once, never twice


def test_401_names_the_token_kind(fake, client):
    fake.faults.append(Fault(status=401))
    with pytest.raises(RailwayAuthError, match=r"account token.*Authorization: Bearer"):
        create_project(client)


def test_wrong_token_gets_not_authorized_with_guidance(fake):
    client = RailwayClient(token="nope-not-a-token", endpoint=fake.endpoint)
    with pytest.raises(RailwayAuthError) as err:
        create_project(client)
    assert "Project-Access-Token" in str(err.value)  # hints at the other header
    assert "revoked" in str(err.value)


def test_project_token_cannot_create_projects_and_is_told_why(fake):
    project = fake.seed_project()
    env_id = project["environments"]["edges"][0]["node"]["id"]
    fake.project_tokens[PROJECT_TOKEN] = (project["id"], env_id)
    client = RailwayClient(token=PROJECT_TOKEN, token_kind="project", endpoint=fake.endpoint)
    with pytest.raises(RailwayAuthError) as err:
        create_project(client)
    message = str(err.value)
    assert "projectCreate needs an account or workspace token" in message
    assert "Authorization: Bearer" in message


def test_an_error_text_is_never_taken_for_not_found(client):
    # Railway says "Project not found" for a missing id *and* for one the token
    # may not see: the client reports it, providers decide "gone" from listings
    with pytest.raises(RailwayError) as err:
        client.execute(gql.PROJECT_GET, {"id": "prj-does-not-exist"}, op="project")
    assert type(err.value) is RailwayError
    assert "Project not found" in str(err.value)


def test_other_graphql_errors_keep_railways_message(fake, client):
    fake.faults.append(Fault(errors=[{"message": "Volume limit reached"}]))
    with pytest.raises(RailwayError, match="Railway rejected projectCreate: Volume limit reached"):
        create_project(client)


def test_invalid_document_is_rejected_like_railway_would(client):
    with pytest.raises(RailwayError, match="Cannot query field"):
        client.execute('query Bad { project(id: "x") { nope } }', op="project")


def test_unreachable_endpoint_is_bounded(sleeps):
    client = RailwayClient(
        token=ACCOUNT_TOKEN, endpoint="http://127.0.0.1:9/graphql/v2", sleep=sleeps.append
    )
    with pytest.raises(RailwayUnavailable, match=r"cannot reach http://127\.0\.0\.1:9"):
        client.execute(gql.PROJECT_GET, {"id": "x"}, op="project")
    assert len(sleeps) == client.max_attempts - 1


def test_token_never_in_repr_logs_or_errors(fake, sleeps, caplog):
    caplog.set_level(logging.DEBUG)
    client = RailwayClient(
        token=ACCOUNT_TOKEN, endpoint=fake.endpoint, timeout=0.5, sleep=sleeps.append
    )
    # a server that echoes the token back in an error must not make us print it
    faults = [
        (Fault(errors=[{"message": f"bad token {ACCOUNT_TOKEN}"}]), create_project),
        (Fault(status=500), lambda c: get_project(c, "prj-x")),  # retried, then "not found"
        (Fault(status=401), create_project),
    ]
    texts = [repr(client), str(client)]
    for fault, call in faults:
        fake.faults.append(fault)
        with pytest.raises(RailwayError) as err:
            call(client)
        texts.append(str(err.value))
        texts.append(repr(err.value))
    texts.append(caplog.text)
    assert all(ACCOUNT_TOKEN not in text for text in texts)
    assert "[redacted]" in texts[2]
    assert "retrying" in caplog.text  # the log is there, only without the token


def test_missing_token_explains_how_to_set_it():
    with pytest.raises(RailwayAuthError, match="pulumi config set --secret"):
        RailwayClient(token="")


def test_retry_after_parsing():
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("soon") is None


def test_low_rate_limit_budget_is_warned_about(fake, client, caplog):
    caplog.set_level(logging.WARNING, logger="coachdb_infra.railway")
    fake.faults.append(Fault(headers={"X-RateLimit-Remaining": "999"}, passthrough=True))
    create_project(client, "a")
    assert "requests left" not in caplog.text
    fake.faults.append(Fault(headers={"X-RateLimit-Remaining": "7"}, passthrough=True))
    create_project(client, "b")
    assert "only 7 API requests left" in caplog.text


def test_a_mutation_that_never_left_is_sent_again(sleeps):
    # connection refused: the request provably never reached Railway, so re-sending is safe
    client = RailwayClient(
        token=ACCOUNT_TOKEN, endpoint="http://127.0.0.1:9/graphql/v2", sleep=sleeps.append
    )
    with pytest.raises(RailwayUnavailable, match="cannot reach"):
        create_project(client)
    assert client.requests_sent == client.max_attempts


def test_a_mutation_whose_connection_drops_after_sending_is_not_resent(fake, client, sleeps):
    fake.faults.append(Fault(op="projectCreate", apply=True, drop=True))
    with pytest.raises(RailwayOutcomeUnknown, match="not re-sent"):
        create_project(client)
    assert fake.mutations() == ["projectCreate"] and sleeps == []
