"""The providers' typed arguments: what the program declares is what a provider reads.

Pulumi hands a dynamic provider a flat dict (and numbers from state as floats);
railway/arguments.py turns it back into the dataclass the program declared. These
tests pin the round trip for every resource, the coercions state needs, and that a
property of the wrong type is refused by name without echoing its value.
"""

from __future__ import annotations

import dataclasses

import pytest
from coachdb_infra.railway import arguments as a
from coachdb_infra.railway import database, providers
from coachdb_infra.railway.client import RailwayError

API = a.RailwayApiArgs(token="tok-0123456789abcdef", token_kind="workspace")
EXAMPLES = [
    a.RailwayProjectArgs(api=API, name="coachdb-prod", workspace_id="ws-1"),
    a.RailwayEnvironmentArgs(
        api=API, project_id="prj-1", name="production", project_environments={"production": "e"}
    ),
    a.RailwayServiceArgs(
        api=API, project_id="prj-1", environment_id="env-1", name="postgres", image="postgres:14"
    ),
    a.RailwayVolumeArgs(
        api=API,
        project_id="prj-1",
        environment_id="env-1",
        service_id="svc-1",
        mount_path="/var/lib/postgresql/data",
        backup_schedules=["DAILY"],
    ),
    a.RailwayVariablesArgs(
        api=API, project_id="p", environment_id="e", service_id="s", variables={"TZ": "UTC"}
    ),
    a.RailwayTcpProxyArgs(api=API, environment_id="e", service_id="s", application_port=5432),
    a.RailwayDeploymentArgs(
        api=API, environment_id="e", service_id="s", trigger="digest", probe={"port": 1}
    ),
    database.RailwayRoleModelArgs(
        host="h.proxy.rlwy.net",
        port=41234,
        superuser_password="pw-0123456789abcdef",  # pragma: allowlist secret
        ca_cert="-----BEGIN CERTIFICATE-----",
        passwords={"trading_coach_user": "x" * 24},
    ),
]


@pytest.mark.parametrize("args", EXAMPLES, ids=lambda args: type(args).__name__)
def test_every_resource_round_trips_through_its_properties(args) -> None:
    props = a.encode(args, some_output=None)
    assert props["some_output"] is None  # outputs ride along and are ignored on the way back
    if hasattr(args, "api"):
        assert {key: props[key] for key in a.API_KEYS} == dataclasses.asdict(API)
    assert a.decode(type(args), props) == args


def test_numbers_from_state_come_back_as_the_declared_type() -> None:
    """protobuf carries every number as a float: a port of 41234.0 is the int 41234."""
    props = a.encode(EXAMPLES[5]) | {"application_port": 5432.0, "api_timeout": 5}
    decoded = a.decode(a.RailwayTcpProxyArgs, props)
    assert decoded.application_port == 5432 and type(decoded.application_port) is int
    assert decoded.api.api_timeout == 5.0 and type(decoded.api.api_timeout) is float


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("application_port", 5432.5, "application_port must be int, not float"),
        ("application_port", "5432", "application_port must be int, not str"),
        ("service_id", 7, "service_id must be str, not int"),
        ("service_id", None, "service_id is required"),
        ("token", ["a-secret-token"], "RailwayApiArgs.token must be str, not list"),
    ],
)
def test_a_property_of_the_wrong_type_is_refused_by_name(field, value, words) -> None:
    props = a.encode(EXAMPLES[5]) | {field: value}
    with pytest.raises(a.ArgumentError, match=words) as caught:
        a.decode(a.RailwayTcpProxyArgs, props)
    assert "a-secret-token" not in str(caught.value) and "5432.5" not in str(caught.value)


def test_a_provider_refuses_bad_properties_before_any_request(api, fake) -> None:
    """The conversion happens at the boundary: nothing is sent for a malformed resource."""
    props = {**api, "environment_id": "env-1", "service_id": 42, "application_port": 5432}
    with pytest.raises(RailwayError, match="service_id must be str, not int"):
        providers.TcpProxyProvider().create(props)
    assert fake.calls == []
