"""Negative tests: every configuration error stops the program before any resource
is declared, with a message that names the key and says how to fix it."""

from __future__ import annotations

import pulumi
import pytest
from coachdb_infra.common.config import ConfigError, parse_image
from pulumi_mocks import run_program

from coachdb import profile

DIGEST = "sha256:" + "ab" * 32
GOOD_SECRET = "s3cure-and-long-enough-123"  # pragma: allowlist secret

CASES = [
    # (config, secret keys, key named in the message, words the message must contain)
    ({"target": "kubernetes"}, (), "coachdb:target", "unknown value 'kubernetes'"),
    ({"port": "0"}, (), "coachdb:port", "between 1 and 65535"),
    ({"port": "65536"}, (), "coachdb:port", "between 1 and 65535"),
    ({"port": "fivefourthreetwo"}, (), "coachdb:port", "not a whole number"),
    ({"image": "postgres:15"}, (), "coachdb:image", "not a PostgreSQL 14 tag"),
    ({"image": "postgres:latest"}, (), "coachdb:image", "not a PostgreSQL 14 tag"),
    # the image must agree with the major setting, in both directions
    (
        {"postgresMajor": "17", "image": "postgres:14.23-bookworm"},
        (),
        "coachdb:image",
        "not a PostgreSQL 17 tag",
    ),
    ({"postgresMajor": "17", "image": "postgres:1"}, (), "coachdb:image", "not a PostgreSQL 17"),
    ({"postgresMajor": "13"}, (), "coachdb:postgresMajor", "PostgreSQL 13 is below 14"),
    ({"postgresMajor": "19"}, (), "coachdb:postgresMajor", "PostgreSQL 19 is unknown"),
    ({"postgresMajor": "seventeen"}, (), "coachdb:postgresMajor", "not a PostgreSQL major"),
    ({"image": "postgres"}, (), "coachdb:image", "has no tag"),
    ({"image": f"postgres@{DIGEST}"}, (), "coachdb:image", "has no tag"),
    ({"image": "Postgres:14"}, (), "coachdb:image", "not a valid image reference"),
    ({"image": "postgres:14@sha256:1234"}, (), "coachdb:image", "not a valid image reference"),
    (
        {"passwordSource": "config"},  # pragma: allowlist secret
        (),
        "coachdb:superuserPassword",
        "is required because coachdb:passwordSource is config",
    ),
    (
        {
            "passwordSource": "config",  # pragma: allowlist secret
            "superuserPassword": GOOD_SECRET,
            "migratorPassword": GOOD_SECRET + "m",
        },
        ("superuserPassword", "migratorPassword"),
        "coachdb:appPassword",
        "is required",
    ),
    ({"appPassword": GOOD_SECRET}, (), "coachdb:appPassword", "stored in plain text"),
    (
        {"appPassword": "short"},  # pragma: allowlist secret
        ("appPassword",),
        "coachdb:appPassword",
        "shorter than 16",
    ),
    (
        {"passwordSource": "vault"},  # pragma: allowlist secret
        (),
        "coachdb:passwordSource",
        "unknown value",
    ),
    (
        {"appPassword": "has a space and is long"},  # pragma: allowlist secret
        ("appPassword",),
        "coachdb:appPassword",
        "cannot carry unquoted",
    ),
    (
        {"migratorPassword": "dollar$sign-is-long-enough"},  # pragma: allowlist secret
        ("migratorPassword",),
        "coachdb:migratorPassword",
        "cannot carry unquoted",
    ),
    ({"bindAddress": "localhost"}, (), "coachdb:bindAddress", "not an IP address"),
    ({"dockerHost": "db1.example.com"}, (), "coachdb:dockerHost", "not a Docker endpoint URL"),
    ({"dockerSshOpts": '["-p", "2222"]'}, (), "coachdb:dockerSshOpts", "only used with an ssh://"),
    ({"database": "Elite-Trading"}, (), "coachdb:database", "not a lower-case SQL identifier"),
    ({"memoryMb": "128"}, (), "coachdb:memoryMb", "between 256"),
    ({"restartPolicy": "sometimes"}, (), "coachdb:restartPolicy", "unknown value"),
    (
        {"extraSans": '["db.example.com", "not a host!"]'},
        (),
        "coachdb:extraSans",
        "neither a DNS name",
    ),
    ({"extraSans": "db.example.com"}, (), "coachdb:extraSans", "not a list of strings"),
    ({"host": "under_score.example.com"}, (), "coachdb:host", "neither a DNS name"),
    ({"containerName": "bad name"}, (), "coachdb:containerName", "not a valid Docker object name"),
    ({"caCertPath": "ca.crt"}, (), "coachdb:caCertPath", "not an absolute path"),
    ({"protectVolume": "maybe"}, (), "coachdb:protectVolume", "not true or false"),
    ({"certValidityDays": "3650"}, (), "coachdb:certValidityDays", "between 1 and 825"),
]


@pytest.fixture(autouse=True)
def _today_before_any_end_of_life(monkeypatch: pytest.MonkeyPatch) -> None:
    """Judge end of life on a fixed date, never the machine's calendar (tests below override)."""
    monkeypatch.setenv("COACHDB_TODAY", "2026-06-01")


@pytest.mark.parametrize(("config", "secret_keys", "key", "words"), CASES)
def test_bad_config_stops_the_program_naming_key_and_fix(
    config: dict[str, str], secret_keys: tuple[str, ...], key: str, words: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        run_program(config, secret_keys=secret_keys)
    message = str(caught.value)
    assert message.startswith(f"{key}: "), message
    assert words in message, message
    assert "Fix: " in message, message
    # a RunError: `pulumi up` prints the message without a Python traceback
    assert isinstance(caught.value, pulumi.RunError)


def test_plain_password_error_tells_the_secret_command() -> None:
    with pytest.raises(ConfigError, match=r"pulumi config set --secret coachdb:appPassword"):
        run_program({"appPassword": GOOD_SECRET})


def test_config_error_comes_before_any_resource() -> None:
    """Nothing is declared when validation fails, so nothing can be half-created."""
    import pulumi_mocks

    monitor_registrations: list[object] = []
    original = pulumi_mocks.RecordingMonitor.RegisterResource

    def spy(self, request):  # type: ignore[no-untyped-def]
        monitor_registrations.append(request.type)
        return original(self, request)

    pulumi_mocks.RecordingMonitor.RegisterResource = spy  # type: ignore[method-assign]
    try:
        with pytest.raises(ConfigError):
            run_program({"port": "99999"})
    finally:
        pulumi_mocks.RecordingMonitor.RegisterResource = original  # type: ignore[method-assign]
    assert [t for t in monitor_registrations if t != "pulumi:pulumi:Stack"] == []


@pytest.mark.parametrize(
    ("reference", "expected_tag", "expected_digest"),
    [
        ("postgres:14", "14", None),
        ("postgres:14.23", "14.23", None),
        ("postgres:14.23-bookworm", "14.23-bookworm", None),
        ("postgres:14-alpine3.20", "14-alpine3.20", None),
        (f"postgres:14.23-bookworm@{DIGEST}", "14.23-bookworm", DIGEST),
        (f"registry.example.com:5000/base/postgres:14.23@{DIGEST}", "14.23", DIGEST),
    ],
)
def test_valid_pg14_references_parse(
    reference: str, expected_tag: str, expected_digest: str | None
) -> None:
    ref = parse_image("image", reference, major=14)
    assert ref.tag == expected_tag
    assert ref.digest == expected_digest
    assert ref.reference == reference


def test_each_target_has_its_deploy_function() -> None:
    from coachdb_infra.docker import deploy_docker
    from coachdb_infra.program import target_function
    from coachdb_infra.railway import deploy_railway

    assert target_function("docker") is deploy_docker
    assert target_function("railway") is deploy_railway
    with pytest.raises(ConfigError, match=r"coachdb:target: unknown target 'aws'"):
        target_function("aws")


def test_remote_engine_with_localhost_names_warns(caplog: pytest.LogCaptureFixture) -> None:
    """Not an error (an SSH tunnel is legitimate), but the operator should know."""
    with caplog.at_level("WARNING"):
        run_program({"dockerHost": "ssh://deploy@db1.example.com"})
    text = caplog.text
    assert "coachdb:host is localhost but the engine is remote" in text
    assert "coachdb:bindAddress is 127.0.0.1 on a remote Docker host" in text


def test_all_interfaces_bind_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING"):
        run_program({"bindAddress": "0.0.0.0"})  # noqa: S104 - declared, never started
    assert "publishes PostgreSQL on every interface" in caplog.text


def test_example_stack_file_is_valid_and_secret_free() -> None:
    """Pulumi.example-docker.yaml runs as is (structured values travel as JSON, as the CLI does)."""
    import json
    from pathlib import Path

    import yaml

    example = Path(__file__).resolve().parents[2] / "pulumi" / "Pulumi.example-docker.yaml"
    config = yaml.safe_load(example.read_text())["config"]
    assert not any("Password" in key for key in config), "no password in an example stack"
    as_cli = {
        k: v if isinstance(v, str) else json.dumps(v) if isinstance(v, list) else str(v)
        for k, v in config.items()
    }
    run = run_program(as_cli)
    assert run.outputs["port"] == 5432
    assert run.one("docker:index/remoteImage:RemoteImage").inputs["name"] == config["coachdb:image"]


# --- guarded settings (issue 16): coachdb:serverSettings may not weaken a guarantee ---------
GUARDED_SERVER = [g.name for g in profile.GUARDS if g.scope == "server" and not g.backups_only]


@pytest.mark.parametrize("name", GUARDED_SERVER)
def test_server_settings_refuse_every_guarded_setting(name: str) -> None:
    import json

    with pytest.raises(ConfigError) as caught:
        run_program({"serverSettings": json.dumps({name: "off"})})
    message = str(caught.value)
    assert message.startswith("coachdb:serverSettings: "), message
    assert f"coachdb:serverSettings may not set {name}: it is a guarded setting" in message
    assert f"add {name} to coachdb:unsafeSettingsAllowed" in message


def test_server_settings_reach_the_container_command() -> None:
    run = run_program({"serverSettings": '{"work_mem": "8MB", "jit": false}'})
    command = run.one("docker:index/container:Container").inputs["command"]
    assert command[-4:] == ["-c", "work_mem=8MB", "-c", "jit=off"]


def test_waived_guarded_setting_is_applied_and_warned(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING"):
        run = run_program(
            {"serverSettings": '{"fsync": "off"}', "unsafeSettingsAllowed": '["fsync"]'}
        )
    command = run.one("docker:index/container:Container").inputs["command"]
    assert command[-2:] == ["-c", "fsync=off"]
    assert (
        "WARNING: coachdb:serverSettings overrides guarded setting fsync "
        "(committed data survives a crash no longer holds), waived by "
        "coachdb:unsafeSettingsAllowed"
    ) in caplog.text


@pytest.mark.parametrize(
    ("config", "key", "words"),
    [
        ({"serverSettings": '"ssl=off"'}, "coachdb:serverSettings", "is not a mapping"),
        ({"serverSettings": '{"Bad Name": "1"}'}, "coachdb:serverSettings", "not PostgreSQL"),
        (
            {"target": "railway", "serverSettings": '{"work_mem": "8MB"}'},
            "coachdb:serverSettings",
            "is not supported for target railway",
        ),
        (
            {"unsafeSettingsAllowed": '["work_mem"]'},
            "coachdb:unsafeSettingsAllowed",
            "lists 'work_mem', which is not a guarded setting",
        ),
    ],
)
def test_server_settings_shape_is_checked(config: dict[str, str], key: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        run_program(config)
    assert str(caught.value).startswith(f"{key}: ") and words in str(caught.value)


@pytest.mark.parametrize("major", [14, 15, 16, 17, 18])
def test_every_supported_major_pins_its_own_image(major: int) -> None:
    from coachdb import versions

    run = run_program({"postgresMajor": str(major)})
    name = run.one("docker:index/remoteImage:RemoteImage").inputs["name"]
    assert name == f"postgres:{versions.MAJORS[major].image_tag}"
    assert name.startswith(f"postgres:{major}.")


def _warnings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda msg, *a, **k: seen.append(str(msg)))
    return seen


def test_major_past_end_of_life_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _warnings(monkeypatch)
    monkeypatch.setenv("COACHDB_TODAY", "2026-11-29")
    run_program({})  # default major 14, whose final release was 2026-11-12
    eol = [w for w in seen if "end of life" in w]
    assert len(eol) == 1, seen
    assert "PostgreSQL 14 reached end of life on 2026-11-12" in eol[0]
    assert "coachdb:eolStrict" in eol[0]


@pytest.mark.parametrize(("major", "today"), [("14", "2026-11-12"), ("17", "2026-11-29")])
def test_supported_major_does_not_warn(
    monkeypatch: pytest.MonkeyPatch, major: str, today: str
) -> None:
    seen = _warnings(monkeypatch)
    monkeypatch.setenv("COACHDB_TODAY", today)
    run_program({"postgresMajor": major, "eolStrict": "true"})
    assert not [w for w in seen if "end of life" in w], seen


def test_eol_strict_refuses_a_major_past_end_of_life(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COACHDB_TODAY", "2026-11-29")
    with pytest.raises(ConfigError) as caught:
        run_program({"eolStrict": "true"})
    message = str(caught.value)
    assert message.startswith("coachdb:postgresMajor: PostgreSQL 14 reached end of life"), message
    assert "pulumi config set coachdb:postgresMajor 17" in message


def test_example_stack_file_names_every_key_the_program_reads() -> None:
    """The example (and docs/deploy-docker.md, which points at it) stays complete."""
    import re
    from pathlib import Path

    from coachdb_infra.common import config as cfg
    from coachdb_infra.docker import settings as docker_settings

    # the shared keys and the Docker target's own (the Railway keys: docs/deploy-railway.md)
    source = Path(cfg.__file__).read_text() + Path(docker_settings.__file__).read_text()
    keys = set(re.findall(r'read_(?!server_settings\b)\w+\(\s*"(\w+)"', source))
    keys |= {k for pair in re.findall(r'key, waiver_key = "(\w+)", "(\w+)"', source) for k in pair}
    # the (key, default) name table: one tuple a line
    keys |= set(re.findall(r'^\s+\("(\w+)", "[^"]*"\),$', source, re.MULTILINE))
    keys -= set(cfg.PASSWORD_KEYS)  # secrets never go into an example file
    assert {"port", "caValidityDays", "containerName"} <= keys  # the patterns still match
    example = Path(__file__).resolve().parents[2] / "pulumi" / "Pulumi.example-docker.yaml"
    listed = set(re.findall(r"coachdb:(\w+):", example.read_text()))
    assert keys - listed == set()
