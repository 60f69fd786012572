"""The Railway stack under Pulumi's mock runtime: the whole graph, secrets kept secret.

Runs the real program entry (pulumi/__main__.py, helper D's program) with
``coachdb:target railway``, through the recording monitor of
tests/pulumi/pulumi_mocks.py, with the dynamic Railway resources answered by a
mock that returns what the providers would (ids, proxy domain and port).
"""

from __future__ import annotations

import json
import urllib.parse

import pulumi_mocks
import pytest
from coachdb_infra.common.config import ConfigError
from coachdb_infra.railway.bootstrap import START_COMMAND
from cryptography import x509
from pulumi_mocks import (
    DYN,
    PROXY_DOMAIN,
    PROXY_PORT,
    RailwayMocks,
    contains_secret,
    ensure_event_loop,
    is_secret_value,
    run_program,
)
from pulumi_mocks import (
    RAILWAY_TOKEN as TOKEN,
)

from coachdb.scram import scram_verifier


@pytest.fixture
def railway(monkeypatch):
    monkeypatch.setattr(pulumi_mocks, "CoachdbMocks", RailwayMocks)
    ensure_event_loop()

    def run(extra=None, secret_keys=("railwayToken",)):
        config = {"target": "railway", "railwayToken": TOKEN, **(extra or {})}
        return run_program(config, secret_keys=secret_keys)

    return run


def railway_regs(run):
    return [r for r in run.registrations if r.typ.startswith(DYN)]


def plain_parts(value):
    """Everything of an input that is NOT wrapped as a secret."""
    if is_secret_value(value):
        return None
    if isinstance(value, dict):
        return {k: plain_parts(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_parts(v) for v in value]
    return value


def test_the_whole_graph_is_declared(railway):
    run = railway()
    kinds = sorted(r.typ[len(DYN) :] for r in railway_regs(run))
    assert kinds == sorted(
        [
            "Project",
            "Environment",
            "Service",
            "Volume",
            "TcpProxy",
            "Variables",
            "Deployment",
            "RoleModel",
        ]
    )
    service = run.one(f"{DYN}Service").inputs
    assert service["image"].startswith("postgres:14")
    assert service["start_command"] == START_COMMAND
    volume = run.one(f"{DYN}Volume")
    assert volume.inputs["mount_path"] == "/var/lib/postgresql/data"
    assert volume.protect is True  # destroy stops until the data volume is unprotected
    assert volume.inputs["backup_schedules"] == ["DAILY", "WEEKLY"]
    assert run.one(f"{DYN}TcpProxy").inputs["application_port"] == 5432


def test_token_is_secret_everywhere_and_never_plain(railway):
    run = railway()
    for reg in railway_regs(run):
        if "token" in reg.raw_inputs:
            assert is_secret_value(reg.raw_inputs["token"]), reg.name
    for reg in run.registrations:
        assert TOKEN not in json.dumps(plain_parts(reg.raw_inputs), default=str), reg.name
    assert TOKEN not in json.dumps(run.outputs, default=str)


def test_variables_are_secret_and_complete(railway):
    run = railway()
    reg = run.one(f"{DYN}Variables")
    assert contains_secret(reg.raw_inputs["variables"])
    values = reg.inputs["variables"]
    assert values["PGDATA"] == "/var/lib/postgresql/data/pgdata"
    assert values["POSTGRES_USER"] == "postgres"
    assert values["POSTGRES_DB"] == "elite_trading_coach_ai"
    assert "--data-checksums" in values["POSTGRES_INITDB_ARGS"]
    assert values["POSTGRES_PASSWORD"] == run.generated_passwords["railway-postgres-password"]
    for name in ("COACHDB_BOOTSTRAP", "COACHDB_PG_HBA", "COACHDB_TLS_CERT", "COACHDB_TLS_KEY"):
        assert values[name]
    assert values["COACHDB_PG_HBA"].endswith(
        "hostnossl  all          all       all              reject\n"
    )
    # the init script carries verifiers, never a login role's plaintext password
    app_pw = run.generated_passwords["railway-trading_coach_user-password"]
    assert app_pw not in values["COACHDB_INIT_SQL"]
    assert scram_verifier(app_pw, "trading_coach_user") in values["COACHDB_INIT_SQL"]
    # DATABASE_URL for other Railway services: the app role, private network, verify-full
    url = urllib.parse.urlsplit(values["DATABASE_URL"])
    assert url.username == "trading_coach_user" and url.hostname == "postgres.railway.internal"
    assert urllib.parse.parse_qs(url.query)["sslmode"] == ["verify-full"]


def test_server_certificate_names_the_proxy_and_private_domains(railway):
    run = railway()
    cert_pem = run.one(f"{DYN}Variables").inputs["variables"]["COACHDB_TLS_CERT"]
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    names = set(sans.get_values_for_type(x509.DNSName))
    assert {PROXY_DOMAIN, "postgres.railway.internal", "localhost"} <= names
    ca = x509.load_pem_x509_certificate(run.outputs["ca_certificate"].encode())
    assert cert.issuer == ca.subject  # signed by the CA clients pin


def test_extra_sans_split_into_dns_and_ip_names(railway):
    run = railway({"extraSans": '["db.example.com", "10.1.2.3"]'})
    csr = run.one("tls:index/certRequest:CertRequest").inputs
    assert "db.example.com" in csr["dnsNames"] and "10.1.2.3" not in csr["dnsNames"]
    assert csr["ipAddresses"] == ["10.1.2.3"]


def test_outputs_urls_secret_and_ca_present(railway):
    run = railway()
    assert {"database_url", "database_public_url", "migrator_public_url"} <= run.secret_outputs
    assert "ca_certificate" not in run.secret_outputs
    public = urllib.parse.urlsplit(run.outputs["database_public_url"])
    assert (public.hostname, public.port) == (PROXY_DOMAIN, PROXY_PORT)
    assert urllib.parse.parse_qs(public.query)["sslmode"] == ["verify-full"]
    migrator = urllib.parse.urlsplit(run.outputs["migrator_public_url"])
    assert (migrator.username, migrator.hostname) == ("trading_coach_migrator", PROXY_DOMAIN)
    private = urllib.parse.urlsplit(run.outputs["database_url"])
    assert (private.hostname, private.port) == ("postgres.railway.internal", 5432)
    for name, value in run.outputs.items():
        if name not in run.secret_outputs:
            for pw in run.generated_passwords.values():
                assert pw not in json.dumps(value, default=str), name


def test_role_model_runs_after_the_deployment_with_secrets_wrapped(railway):
    run = railway()
    reg = run.one(f"{DYN}RoleModel")
    assert is_secret_value(reg.raw_inputs["superuser_password"])
    assert contains_secret(reg.raw_inputs["passwords"])
    assert reg.inputs["host"] == PROXY_DOMAIN and reg.inputs["port"] == PROXY_PORT
    assert set(reg.inputs["passwords"]) == {"trading_coach_migrator", "trading_coach_user"}
    # it takes the deployment's id as input: it runs after, and again after every deploy
    assert reg.inputs["deployment_id"] == "dep-1"


def test_deployment_probes_postgres_through_the_proxy_with_secrets_wrapped(railway):
    run = railway()
    reg = run.one(f"{DYN}Deployment")
    assert is_secret_value(reg.raw_inputs["probe"])
    probe = reg.inputs["probe"]
    assert (probe["host"], probe["port"], probe["user"]) == (PROXY_DOMAIN, PROXY_PORT, "postgres")
    assert probe["password"] == run.generated_passwords["railway-postgres-password"]
    assert probe["ca_cert"] == run.outputs["ca_certificate"]


def test_without_public_proxy_there_is_no_public_url(railway):
    run = railway({"railwayPublicProxy": "false"})
    kinds = {r.typ[len(DYN) :] for r in railway_regs(run)}
    assert "TcpProxy" not in kinds and "RoleModel" not in kinds
    assert "database_public_url" not in run.outputs
    assert "database_url" in run.secret_outputs


def test_adopting_a_project_with_a_project_token(railway):
    run = railway({"railwayTokenKind": "project", "railwayProjectId": "prj-existing"})
    project = run.one(f"{DYN}Project").inputs
    assert project["adopt_id"] == "prj-existing" and project["token_kind"] == "project"


@pytest.mark.parametrize(
    ("extra", "secret_keys", "key", "words"),
    [
        ({"railwayToken": None}, (), "coachdb:railwayToken", "is required for target railway"),
        ({}, (), "coachdb:railwayToken", "stored in plain text"),
        (
            {"railwayTokenKind": "project"},
            ("railwayToken",),
            "coachdb:railwayProjectId",
            "cannot create projects",
        ),
        ({"railwayTokenKind": "team"}, ("railwayToken",), "coachdb:railwayTokenKind", "unknown"),
        (
            {"railwayServiceName": "Postgres DB"},
            ("railwayToken",),
            "coachdb:railwayServiceName",
            "private DNS name",
        ),
        (
            {"railwayApiEndpoint": "http://backboard.railway.com/graphql/v2"},
            ("railwayToken",),
            "coachdb:railwayApiEndpoint",
            "https://",
        ),
        ({"image": "postgres:16"}, ("railwayToken",), "coachdb:image", "PostgreSQL 14"),
        (
            {"railwayBackupSchedules": '["HOURLY"]'},
            ("railwayToken",),
            "coachdb:railwayBackupSchedules",
            "unknown schedule",
        ),
    ],
)
def test_bad_railway_config_names_the_key(monkeypatch, extra, secret_keys, key, words):
    monkeypatch.setattr(pulumi_mocks, "CoachdbMocks", RailwayMocks)
    ensure_event_loop()
    config = {"target": "railway", "railwayToken": TOKEN, **extra}
    config = {k: v for k, v in config.items() if v is not None}
    with pytest.raises(ConfigError) as caught:
        run_program(config, secret_keys=secret_keys)
    message = str(caught.value)
    assert message.startswith(f"{key}: ") and words in message, message
    assert TOKEN not in message


@pytest.mark.parametrize("major", [14, 17])
def test_the_service_runs_the_declared_major(railway, major):
    """coachdb:postgresMajor picks the Railway image too; a disagreeing tag is refused."""
    run = railway({"postgresMajor": str(major)})
    assert run.one(f"{DYN}Service").inputs["image"].startswith(f"postgres:{major}.")
    with pytest.raises(ConfigError, match=rf"not a PostgreSQL {major} tag"):
        railway({"postgresMajor": str(major), "image": "postgres:16.14-bookworm"})


# --- blue/green upgrade in one stack ------------------------------------------------------


def _by_name(run, kind):
    return {r.name: r for r in run.of_type(f"{DYN}{kind}")}


def test_green_major_declares_a_second_service_with_its_own_protected_volume(railway):
    run = railway({"greenMajor": "17"})
    services = _by_name(run, "Service")
    assert set(services) == {"railway-postgres", "railway-postgres-green"}
    assert services["railway-postgres"].inputs["name"] == "postgres"
    assert services["railway-postgres"].inputs["image"].startswith("postgres:14.")
    assert services["railway-postgres-green"].inputs["name"] == "postgres-17"
    assert services["railway-postgres-green"].inputs["image"] == "postgres:17.10-bookworm"
    volumes = _by_name(run, "Volume")
    assert set(volumes) == {"railway-pgdata", "railway-pgdata-green"}
    assert all(v.protect for v in volumes.values())  # blue stays until removed on purpose
    assert volumes["railway-pgdata-green"].inputs["service_id"] == "svc-2"
    assert volumes["railway-pgdata"].inputs["service_id"] == "svc-1"
    for kind in ("TcpProxy", "Variables", "Deployment", "RoleModel"):
        assert len(run.of_type(f"{DYN}{kind}")) == 2, kind
    # one project and environment: both services side by side
    assert len(run.of_type(f"{DYN}Project")) == len(run.of_type(f"{DYN}Environment")) == 1
    # green's own deployment and role model (applied through green's proxy)
    deployments = _by_name(run, "Deployment")
    assert deployments["railway-deployment-green"].inputs["service_id"] == "svc-2"
    role_models = _by_name(run, "RoleModel")
    assert role_models["railway-role-model-green"].inputs["host"] == pulumi_mocks.GREEN_PROXY_DOMAIN
    assert role_models["railway-role-model"].inputs["host"] == PROXY_DOMAIN
    # each side's DATABASE_URL names its own private host; the certificate names both
    variables = _by_name(run, "Variables")
    green_vars = variables["railway-variables-green"].inputs["variables"]
    blue_vars = variables["railway-variables"].inputs["variables"]
    assert urllib.parse.urlsplit(green_vars["DATABASE_URL"]).hostname == (
        "postgres-17.railway.internal"
    )
    assert urllib.parse.urlsplit(blue_vars["DATABASE_URL"]).hostname == (
        "postgres.railway.internal"
    )
    assert green_vars["COACHDB_TLS_CERT"] == blue_vars["COACHDB_TLS_CERT"]
    cert = x509.load_pem_x509_certificate(green_vars["COACHDB_TLS_CERT"].encode())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {
        "postgres.railway.internal",
        "postgres-17.railway.internal",
        PROXY_DOMAIN,
        pulumi_mocks.GREEN_PROXY_DOMAIN,
    } <= set(sans.get_values_for_type(x509.DNSName))
    assert green_vars["POSTGRES_PASSWORD"] == blue_vars["POSTGRES_PASSWORD"]
    # blue stays active until the switch
    out = run.outputs
    assert out["active_side"] == "blue" and out["green_service_id"] == "svc-2"
    assert out["public_host"] == PROXY_DOMAIN and out["private_host"] == "postgres.railway.internal"
    assert "password" not in out["green_superuser_conninfo"]
    assert out["green_superuser_conninfo"].startswith(
        f"host={pulumi_mocks.GREEN_PROXY_DOMAIN} port={PROXY_PORT + 1} user=postgres"
    )
    assert "sslmode=verify-full" in out["blue_superuser_conninfo"]


def test_active_side_green_switches_every_connection_output(railway):
    blue = railway({"greenMajor": "17"}).outputs
    green = railway({"greenMajor": "17", "activeSide": "green"})
    out = green.outputs
    assert out["active_side"] == "green" and out["active_service_name"] == "postgres-17"
    assert out["private_host"] == "postgres-17.railway.internal"
    assert urllib.parse.urlsplit(out["database_url"]).hostname == "postgres-17.railway.internal"
    assert out["public_host"] == pulumi_mocks.GREEN_PROXY_DOMAIN
    assert out["public_port"] == PROXY_PORT + 1
    for name in ("database_public_url", "migrator_public_url"):
        url = urllib.parse.urlsplit(out[name])
        assert (url.hostname, url.port) == (pulumi_mocks.GREEN_PROXY_DOMAIN, PROXY_PORT + 1)
        assert name in green.secret_outputs
    # the switch changes outputs only: both sides are declared alike either way
    assert len(green.of_type(f"{DYN}Service")) == 2
    assert blue["railway_service_id"] == out["railway_service_id"] == "svc-1"


def test_single_side_railway_stacks_declare_what_they_did_before(railway):
    run = railway()
    assert [r.name for r in run.of_type(f"{DYN}Service")] == ["railway-postgres"]
    assert not any(k.startswith(("green_", "blue_", "active_")) for k in run.outputs)


@pytest.mark.parametrize(
    ("extra", "key", "words"),
    [
        ({"activeSide": "green"}, "coachdb:activeSide", "no green side is declared"),
        ({"greenMajor": "14"}, "coachdb:greenMajor", "not newer than coachdb:postgresMajor 14"),
        (
            {"greenMajor": "17", "greenImage": "postgres:14.23"},
            "coachdb:greenImage",
            "not a PostgreSQL 17 tag",
        ),
    ],
)
def test_bad_railway_blue_green_config_is_refused(railway, extra, key, words):
    with pytest.raises(ConfigError) as caught:
        railway(extra)
    assert str(caught.value).startswith(f"{key}: ") and words in str(caught.value)
