"""coachdb:exporter on the Docker target, under mocks: what is declared, and what is not.

Off (the default) nothing changes: no password, no script, no container, the database
container's uploads as before, so existing stacks see no diff. On: a pg_monitor role
with a generated secret password (its SCRAM verifier in the passwords script, the
plaintext only in the exporter's password file), an exporter that dials the active
side's container name with verify-full against the stack's CA, published on loopback.
Bad settings stop the program with the key named. The real-container proof (a scrape
showing ``pg_up 1``) is tests/pulumi/test_docker_exporter_real.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import stack_urns
from coachdb_infra.common import initdb
from coachdb_infra.common.config import ConfigError
from coachdb_infra.docker import exporter
from pulumi_mocks import ProgramRun, contains_secret, run_program

from coachdb.scram import scram_verifier

CONTAINER = "docker:index/container:Container"
GENERATED = "random:index/randomPassword:RandomPassword"
# a dummy bcrypt entry: the web configuration's format, no real credential
WEB_CONFIG = "basic_auth_users:\n  prometheus: $2y$10$abcdefghijklmnopqrstuv\n"


@pytest.fixture(autouse=True)
def _today_before_any_end_of_life(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COACHDB_TODAY", "2026-06-01")


def containers(run: ProgramRun) -> dict[str, Any]:
    return {r.name: r for r in run.of_type(CONTAINER)}


def uploads(reg: Any) -> dict[str, dict[str, Any]]:
    return {u["file"]: u for u in reg.inputs["uploads"]}


@pytest.fixture(scope="module")
def on() -> ProgramRun:
    return run_program({"exporter": "true"})


def test_off_by_default_declares_nothing_new() -> None:
    run = run_program({})
    assert set(containers(run)) == {"postgres"}
    assert f"{initdb.MONITOR_ROLE}-password" not in {r.name for r in run.of_type(GENERATED)}
    files = uploads(containers(run)["postgres"])
    assert not any(initdb.MONITORING_SCRIPT in f for f in files)
    passwords = files[f"/docker-entrypoint-initdb.d/{initdb.PASSWORDS_SCRIPT}"]["content"]
    assert initdb.MONITOR_ROLE not in passwords
    assert not any(k.startswith("exporter") for k in run.outputs)


def test_exporter_logs_in_as_pg_monitor_with_a_generated_secret(on: ProgramRun) -> None:
    pw_reg = next(r for r in on.of_type(GENERATED) if r.name == f"{initdb.MONITOR_ROLE}-password")
    assert pw_reg.inputs["special"] is False and pw_reg.inputs["length"] == 32
    password = on.generated_passwords[f"{initdb.MONITOR_ROLE}-password"]
    exp = containers(on)["exporter"]
    files = uploads(exp)
    # the plaintext is a secret in the state and lives only in the exporter's file
    assert files[exporter.PASSWORD_FILE]["content"] == password
    assert contains_secret(exp.raw_inputs["uploads"])
    envs = exp.inputs["envs"]
    assert f"DATA_SOURCE_PASS_FILE={exporter.PASSWORD_FILE}" in envs
    assert f"DATA_SOURCE_USER={initdb.MONITOR_ROLE}" in envs
    assert not any(password in e for e in envs)
    # the server gets the role (pg_monitor) and its SCRAM verifier, never the plaintext
    server_files = uploads(containers(on)["postgres"])
    script = server_files[f"/docker-entrypoint-initdb.d/{initdb.MONITORING_SCRIPT}"]["content"]
    assert f"GRANT pg_monitor TO {initdb.MONITOR_ROLE};" in script
    assert "SUPERUSER" not in script.replace("NOSUPERUSER", "")
    passwords = server_files[f"/docker-entrypoint-initdb.d/{initdb.PASSWORDS_SCRIPT}"]["content"]
    assert scram_verifier(password, initdb.MONITOR_ROLE) in passwords
    assert password not in passwords


def test_exporter_verifies_the_server_on_the_stack_network(on: ProgramRun) -> None:
    exp, pg = containers(on)["exporter"], containers(on)["postgres"]
    uri = next(e for e in exp.inputs["envs"] if e.startswith("DATA_SOURCE_URI="))
    assert uri == (
        f"DATA_SOURCE_URI={pg.inputs['name']}:5432/postgres"
        f"?sslmode=verify-full&sslrootcert={exporter.CA_FILE}"
    )
    assert uploads(exp)[exporter.CA_FILE]["content"] == on.outputs["ca_certificate"]
    assert exp.inputs["networksAdvanced"][0]["name"] == pg.inputs["networksAdvanced"][0]["name"]


def test_exporter_published_on_loopback_only(on: ProgramRun) -> None:
    (port,) = containers(on)["exporter"].inputs["ports"]
    assert (port["ip"], port["external"], port["internal"]) == ("127.0.0.1", 9187, 9187)
    assert on.outputs["exporter_url"] == "http://127.0.0.1:9187/metrics"
    assert "--web.config.file" not in " ".join(containers(on)["exporter"].inputs["command"])


def test_exporter_image_is_pinned(on: ProgramRun) -> None:
    (image,) = [r for r in on.registrations if r.name == "exporter-image"]
    assert image.inputs["name"] == "quay.io/prometheuscommunity/postgres-exporter:v0.17.1"
    assert image.inputs["keepLocally"] is True


def test_exporter_follows_the_active_green_side() -> None:
    run = run_program({"exporter": "true", "greenMajor": "17", "activeSide": "green"})
    green = containers(run)["postgres-green"].inputs["name"]
    uri = next(e for e in containers(run)["exporter"].inputs["envs"] if "URI" in e)
    assert uri.startswith(f"DATA_SOURCE_URI={green}:5432/")


def test_non_loopback_with_web_config_is_allowed() -> None:
    run = run_program(
        {"exporter": "true", "exporterBindAddress": "10.0.0.5", "exporterWebConfig": WEB_CONFIG},
        secret_keys=("exporterWebConfig",),
    )
    exp = containers(run)["exporter"]
    assert f"--web.config.file={exporter.WEB_CONFIG_FILE}" in exp.inputs["command"]
    assert uploads(exp)[exporter.WEB_CONFIG_FILE]["content"] == WEB_CONFIG
    assert exp.inputs["ports"][0]["ip"] == "10.0.0.5"


def test_exporter_adds_resources_and_keeps_every_old_urn() -> None:
    """Turning it on adds the exporter's resources; every recorded URN is still adopted."""
    run = run_program({"exporter": "true"})
    recorded = json.loads(stack_urns.RECORD.read_text())["docker-default"]
    claimed = {urn for r in run.registrations for urn in r.aliases}
    assert [u for u in recorded if u not in claimed] == []
    new = {r.name for r in run.registrations if not set(r.aliases) & set(recorded)} - {"coachdb"}
    assert new == {"exporter", "exporter-image", f"{initdb.MONITOR_ROLE}-password"}


@pytest.mark.parametrize(
    ("config", "secret_keys", "key", "words"),
    [
        ({"exporter": "true", "exporterBindAddress": "0.0.0.0"}, (), "exporterBindAddress",  # noqa: S104
         "not a loopback address"),
        ({"exporter": "true", "exporterBindAddress": "10.0.0.5",
          "exporterWebConfig": WEB_CONFIG}, (), "exporterWebConfig", "plain text"),
        ({"exporter": "true", "exporterImage": "quay.io/prometheuscommunity/postgres-exporter"},
         (), "exporterImage", "pinned"),
        ({"exporter": "true", "exporterImage": "prom/postgres-exporter:latest"}, (),
         "exporterImage", "pinned"),
        ({"exporter": "true", "exporterPort": "5432"}, (), "exporterPort", "PostgreSQL's port"),
        ({"exporterPort": "9188"}, (), "exporterPort", "coachdb:exporter is off"),
        ({"exporter": "maybe"}, (), "exporter", "not true or false"),
    ],
)  # fmt: skip
def test_bad_exporter_settings_stop_the_program(
    config: dict[str, str], secret_keys: tuple[str, ...], key: str, words: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        run_program(config, secret_keys=secret_keys)
    assert caught.value.key == f"coachdb:{key}"
    assert words in str(caught.value)
