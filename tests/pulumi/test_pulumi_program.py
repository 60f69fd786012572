"""The declared graph of the Docker target, under Pulumi's mock runtime.

Each test runs pulumi/__main__.py afresh (pulumi_mocks.run_program) and asserts
what the program would ask the providers for, including resource options and
which values travel as secrets.
"""

from __future__ import annotations

import ipaddress
import json
import re
import urllib.parse

import pytest
from coachdb_infra.docker import server
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from pulumi_mocks import ProgramRun, Registration, contains_secret, run_program

from coachdb import profile, rolemodel
from coachdb.scram import VERIFIER_RE, verify_password

CONTAINER = "docker:index/container:Container"
IMAGE = "docker:index/remoteImage:RemoteImage"
VOLUME = "docker:index/volume:Volume"
NETWORK = "docker:index/network:Network"
PROVIDER = "pulumi:providers:docker"
PASSWORD = "random:index/randomPassword:RandomPassword"  # pragma: allowlist secret
DIGEST = "sha256:" + "cd" * 32


def container(run: ProgramRun) -> dict:
    return run.one(CONTAINER).inputs


def uploads(run: ProgramRun) -> dict[str, dict]:
    return {u["file"]: u for u in container(run)["uploads"]}


def server_cert(run: ProgramRun) -> x509.Certificate:
    return x509.load_pem_x509_certificate(uploads(run)[server.CERT_FILE]["content"].encode())


def settings_of(run: ProgramRun) -> dict[str, str]:
    command = container(run)["command"]
    assert command[0] == "postgres"
    pairs = command[1:]
    assert pairs[::2] == ["-c"] * (len(pairs) // 2)
    return dict(arg.split("=", 1) for arg in pairs[1::2])


# --- image, volume, network ------------------------------------------------------


def test_image_is_pinned_pg14_and_kept_locally(default_run: ProgramRun) -> None:
    image = default_run.one(IMAGE).inputs
    assert image["name"] == "postgres:14.23-bookworm"
    assert image["keepLocally"] is True
    assert container(default_run)["image"] == "sha256:" + "0" * 64  # the pulled image's id


def test_image_digest_pinning_is_passed_through() -> None:
    run = run_program({"image": f"postgres:14.23-bookworm@{DIGEST}"})
    assert run.one(IMAGE).inputs["name"] == f"postgres:14.23-bookworm@{DIGEST}"


def test_data_volume_is_named_protected_and_retained(default_run: ProgramRun) -> None:
    volume = default_run.one(VOLUME)
    assert volume.inputs["name"] == "coachdb-pgdata"
    assert volume.protect is True
    assert volume.retain_on_delete is True
    mounts = container(default_run)["volumes"]
    assert mounts == [{"volumeName": "coachdb-pgdata", "containerPath": server.DATA_MOUNT}]
    assert "PGDATA=/var/lib/postgresql/data/pgdata" in container(default_run)["envs"]
    assert container(default_run)["removeVolumes"] is False


def test_volume_protection_can_be_lifted_but_retain_stays() -> None:
    volume = run_program({"protectVolume": "false"}).one(VOLUME)
    assert volume.protect is False
    assert volume.retain_on_delete is True


def test_network_and_container_attachment(default_run: ProgramRun) -> None:
    network = default_run.one(NETWORK).inputs
    assert network["name"] == "coachdb"
    attached = container(default_run)["networksAdvanced"]
    assert attached == [{"name": "coachdb", "aliases": ["coachdb-postgres"]}]


# --- the container -----------------------------------------------------------------


def test_container_follows_the_official_image_contract(default_run: ProgramRun) -> None:
    envs = container(default_run)["envs"]
    assert "POSTGRES_INITDB_ARGS=--encoding=UTF8 --locale=C.UTF-8 --data-checksums" in envs
    assert "POSTGRES_USER=postgres" in envs
    assert f"POSTGRES_PASSWORD_FILE={server.PASSWORD_FILE}" in envs
    assert "TZ=UTC" in envs
    assert not any(e.startswith("POSTGRES_PASSWORD=") for e in envs)
    assert not any(e.startswith("POSTGRES_HOST_AUTH_METHOD") for e in envs)


def test_server_settings_tls_timezone_logging(default_run: ProgramRun) -> None:
    settings = settings_of(default_run)
    assert settings["ssl"] == "on"
    assert settings["ssl_min_protocol_version"] == "TLSv1.2"
    assert settings["ssl_ciphers"] == profile.SSL_CIPHERS  # the one list (coachdb.profile)
    assert settings["ssl_cert_file"] == server.CERT_FILE
    assert settings["ssl_key_file"] == server.KEY_FILE
    assert settings["hba_file"] == server.HBA_FILE
    assert settings["timezone"] == "UTC"
    assert settings["log_timezone"] == "UTC"
    assert settings["password_encryption"] == "scram-sha-256"  # pragma: allowlist secret
    assert settings["log_statement"] == "ddl"
    assert settings["shared_buffers"] == "256MB"  # a quarter of the 1024 MB limit


def test_healthcheck_restart_memory_and_replacement(default_run: ProgramRun) -> None:
    reg = default_run.one(CONTAINER)
    c = reg.inputs
    assert c["healthcheck"]["tests"][:2] == ["CMD", "pg_isready"]
    assert "-h" in c["healthcheck"]["tests"]  # TCP: the socket-only init server is not "healthy"
    assert c["healthcheck"]["retries"] >= 3
    assert c["restart"] == "unless-stopped"
    assert c["memory"] == 1024
    assert c["memorySwap"] == 1024
    assert c["wait"] is True
    assert c["mustRun"] is True
    assert c["name"] == "coachdb-postgres"
    # fixed name and port: the old container must be removed before its replacement starts
    assert reg.delete_before_replace is True


def test_port_published_on_loopback_by_default(default_run: ProgramRun) -> None:
    assert container(default_run)["ports"] == [
        {"internal": 5432, "external": 5432, "ip": "127.0.0.1"}
    ]
    assert default_run.outputs["host"] == "localhost"
    assert default_run.outputs["port"] == 5432


def test_port_and_address_are_configurable() -> None:
    run = run_program(
        {
            "port": "6543",
            "bindAddress": "10.0.0.5",
            "host": "db.internal.example.com",
            "memoryMb": "2048",
        }
    )
    assert container(run)["ports"] == [{"internal": 5432, "external": 6543, "ip": "10.0.0.5"}]
    assert container(run)["memory"] == 2048
    assert settings_of(run)["shared_buffers"] == "512MB"
    sans = server_cert(run).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("10.0.0.5") in sans.get_values_for_type(x509.IPAddress)
    assert "db.internal.example.com" in sans.get_values_for_type(x509.DNSName)
    url = urllib.parse.urlsplit(run.outputs["database_url"])
    assert (url.hostname, url.port) == ("db.internal.example.com", 6543)


# --- pg_hba, wrapper ------------------------------------------------------------------


def test_pg_hba_is_tls_only_scram(default_run: ProgramRun) -> None:
    hba = uploads(default_run)[server.HBA_FILE]["content"]
    rules = [line.split() for line in hba.splitlines() if line.strip() and not line.startswith("#")]
    assert rules[0] == ["local", "all", "postgres", "peer"]
    for rule in rules:
        assert rule[0] in ("local", "hostssl", "hostnossl"), rule
        assert rule[-1] in ("peer", "scram-sha-256", "reject"), rule
        if rule[0] == "hostnossl":
            assert rule[-1] == "reject"
    assert rules[-1] == ["hostnossl", "all", "all", "all", "reject"]
    assert ["hostssl", "all", "postgres", "all", "reject"] in rules
    assert not re.search(r"\b(trust|md5|password|ident)\b", hba.split("\n", 1)[1].replace("# ", ""))


def test_wrapper_installs_the_key_for_postgres(default_run: ProgramRun) -> None:
    c = container(default_run)
    files = uploads(default_run)
    assert c["entrypoints"] == [server.WRAPPER]
    assert files[server.WRAPPER]["permissions"] == "0755"
    assert files[server.KEY_UPLOAD]["permissions"] == "0600"
    assert files[server.PASSWORD_FILE]["permissions"] == "0600"
    script = files[server.WRAPPER]["content"]
    assert (
        f"install -o postgres -g postgres -m 0600 {server.KEY_UPLOAD} {server.KEY_FILE}" in script
    )
    assert script.rstrip().endswith('exec docker-entrypoint.sh "$@"')


# --- TLS --------------------------------------------------------------------------


def test_server_certificate_sans_and_chain(default_run: ProgramRun) -> None:
    cert = server_cert(default_run)
    ca = x509.load_pem_x509_certificate(default_run.outputs["ca_certificate"].encode())
    cert.verify_directly_issued_by(ca)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"localhost", "coachdb-postgres"} <= set(sans.get_values_for_type(x509.DNSName))
    ips = {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
    assert {"127.0.0.1", "::1"} <= ips
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku
    ca_basic = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert ca_basic.ca is True


def test_ca_may_sign_certificates_and_the_server_key_may_not(default_run: ProgramRun) -> None:
    """The key usages follow the declared allowed_uses (the mock derives them like pulumi-tls)."""
    ca = x509.load_pem_x509_certificate(default_run.outputs["ca_certificate"].encode())
    ca_usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ca_usage.key_cert_sign and ca_usage.crl_sign
    server_usage = server_cert(default_run).extensions.get_extension_for_class(x509.KeyUsage).value
    assert server_usage.digital_signature and server_usage.key_encipherment
    assert not server_usage.key_cert_sign


def test_extra_sans_reach_the_certificate() -> None:
    run = run_program({"extraSans": '["db.example.com", "192.0.2.10"]'})
    sans = server_cert(run).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "db.example.com" in sans.get_values_for_type(x509.DNSName)
    assert ipaddress.ip_address("192.0.2.10") in sans.get_values_for_type(x509.IPAddress)


def test_tls_requests(default_run: ProgramRun) -> None:
    keys = default_run.of_type("tls:index/privateKey:PrivateKey")
    assert {k.inputs["algorithm"] for k in keys} == {"ECDSA"}
    signed = default_run.one("tls:index/locallySignedCert:LocallySignedCert").inputs
    assert signed["allowedUses"] == ["digital_signature", "key_encipherment", "server_auth"]
    assert 0 < signed["earlyRenewalHours"] < signed["validityPeriodHours"]


# --- role model and passwords ------------------------------------------------------


def test_role_model_script_is_the_one_role_model(default_run: ProgramRun) -> None:
    files = uploads(default_run)
    script = files[f"{server.INITDB_DIR}/coachdb-10-role-model.sql"]["content"]
    expected = rolemodel.render_init_script(rolemodel.RoleModel(database="elite_trading_coach_ai"))
    assert script == expected
    assert "REVOKE CREATE ON SCHEMA public FROM PUBLIC" in script
    assert "PASSWORD" not in script.upper().replace("PASSWORDS", "")


def test_passwords_script_holds_verifiers_only(default_run: ProgramRun) -> None:
    script = uploads(default_run)[f"{server.INITDB_DIR}/coachdb-20-passwords.sql"]["content"]
    statements = re.findall(r"ALTER ROLE \"(\w+)\" PASSWORD '([^']+)'", script)
    roles = {role for role, _ in statements}
    assert roles == {"postgres", "trading_coach_migrator", "trading_coach_user"}
    for _role, verifier in statements:
        assert VERIFIER_RE.match(verifier)
    for password in default_run.generated_passwords.values():
        assert password not in script
    app_password = urllib.parse.unquote(
        urllib.parse.urlsplit(default_run.outputs["database_url"]).password
    )
    verifier = dict(statements)["trading_coach_user"]
    assert verify_password(app_password, verifier)


def test_readonly_role_is_optional() -> None:
    run = run_program({"readonlyRole": "true"})
    script = uploads(run)[f"{server.INITDB_DIR}/coachdb-20-passwords.sql"]["content"]
    assert '"trading_coach_readonly"' in script
    assert (
        "trading_coach_readonly"
        in uploads(run)[f"{server.INITDB_DIR}/coachdb-10-role-model.sql"]["content"]
    )
    assert len(run.of_type(PASSWORD)) == 4


def test_generated_passwords_rotate_with_keeper(default_run: ProgramRun) -> None:
    passwords = default_run.of_type(PASSWORD)
    assert len(passwords) == 3
    for p in passwords:
        assert p.inputs["length"] >= 32
        assert p.inputs["keepers"] == {"rotation": "1"}
    rotated = run_program({"passwordRotation": "2026-11"}).of_type(PASSWORD)
    assert {p.inputs["keepers"]["rotation"] for p in rotated} == {"2026-11"}


def test_configured_passwords_replace_random_ones() -> None:
    secrets = {
        "superuserPassword": "super-secret-password-1",  # pragma: allowlist secret
        "migratorPassword": "migrator-secret-password-2",  # pragma: allowlist secret
        "appPassword": "app-secret-password-3/with:odd@chars",  # pragma: allowlist secret
    }
    run = run_program({"passwordSource": "config", **secrets}, secret_keys=tuple(secrets))
    assert run.of_type(PASSWORD) == []
    url = urllib.parse.urlsplit(run.outputs["database_url"])
    assert urllib.parse.unquote(url.password) == secrets["appPassword"]
    assert uploads(run)[server.PASSWORD_FILE]["content"] == secrets["superuserPassword"]
    assert "database_url" in run.secret_outputs


# --- secrets ------------------------------------------------------------------------


def test_outputs_and_secretness(default_run: ProgramRun) -> None:
    out = default_run.outputs
    assert {"database_url", "ca_certificate", "host", "port"} <= set(out)
    assert {"database_url", "migrator_database_url"} <= default_run.secret_outputs
    assert "ca_certificate" not in default_run.secret_outputs  # public by nature
    url = urllib.parse.urlsplit(out["database_url"])
    query = urllib.parse.parse_qs(url.query)
    assert url.scheme == "postgresql"
    assert url.username == "trading_coach_user"
    assert url.path == "/elite_trading_coach_ai"
    assert query["sslmode"] == ["verify-full"]
    assert query["sslrootcert"] == ["/etc/coachdb/ca.crt"]
    assert out["ca_certificate"].startswith("-----BEGIN CERTIFICATE-----")


def test_no_secret_is_plain_anywhere_in_the_graph(default_run: ProgramRun) -> None:
    """Passwords and private keys only travel inside secret-marked values."""
    key_pem = uploads(default_run)[server.KEY_UPLOAD]["content"]
    secret_values = [*default_run.generated_passwords.values(), key_pem.strip()]
    assert len(default_run.generated_passwords) == 3
    for reg in default_run.registrations:
        for prop, raw in reg.raw_inputs.items():
            if contains_secret(raw):
                continue
            text = repr(raw)
            for value in secret_values:
                assert value not in text, (
                    f"{reg.typ} {reg.name}.{prop} carries a secret in plain text"
                )
    raw = default_run.one(CONTAINER).raw_inputs
    assert contains_secret(raw["uploads"])
    for prop in ("envs", "command", "entrypoints", "labels", "healthcheck"):
        assert not contains_secret(raw[prop]), f"{prop} should hold no secret at all"


def test_private_keys_are_secret_inputs(default_run: ProgramRun) -> None:
    for typ, prop in (
        ("tls:index/selfSignedCert:SelfSignedCert", "privateKeyPem"),
        ("tls:index/certRequest:CertRequest", "privateKeyPem"),
        ("tls:index/locallySignedCert:LocallySignedCert", "caPrivateKeyPem"),
    ):
        assert contains_secret(default_run.one(typ).raw_inputs[prop]), f"{typ}.{prop}"


# --- remote Docker host -------------------------------------------------------------


def test_local_engine_needs_no_explicit_provider(default_run: ProgramRun) -> None:
    assert default_run.of_type(PROVIDER) == []


def test_ssh_docker_host_selects_a_provider_for_every_docker_resource() -> None:
    run = run_program(
        {
            "dockerHost": "ssh://deploy@db1.example.com",
            "dockerSshOpts": '["-o", "StrictHostKeyChecking=yes"]',
        }
    )
    provider = run.one(PROVIDER)
    assert provider.inputs["host"] == "ssh://deploy@db1.example.com"
    ssh_opts = provider.inputs["sshOpts"]  # provider config travels JSON-encoded
    assert json.loads(ssh_opts) == ["-o", "StrictHostKeyChecking=yes"]
    for typ in (IMAGE, VOLUME, NETWORK, CONTAINER):
        assert "$pulumi:providers:docker::docker-host::" in run.one(typ).provider, typ


@pytest.mark.parametrize("target", ["docker"])
def test_target_default_is_docker(target: str, default_run: ProgramRun) -> None:
    assert default_run.one(CONTAINER).inputs["labels"][0]["value"] == "test"
    assert run_program({"target": target}).one(CONTAINER)


def test_app_env_output_matches_the_env_file_layout(default_run: ProgramRun) -> None:
    assert "app_env" in default_run.secret_outputs
    lines = [x for x in default_run.outputs["app_env"].splitlines() if x and not x.startswith("#")]
    env = dict(line.split("=", 1) for line in lines)
    assert env["DATABASE_URL"] == default_run.outputs["database_url"]
    assert env["DB_HOST"] == "localhost"
    assert env["DB_PORT"] == "5432"
    assert env["DB_NAME"] == "elite_trading_coach_ai"
    assert env["DB_USER"] == "trading_coach_user"
    assert env["DB_PASSWORD"] == urllib.parse.unquote(
        urllib.parse.urlsplit(env["DATABASE_URL"]).password
    )
    assert env["DB_SSL"] == "true"
    assert env["DB_SSL_ROOT_CERT"] == env["PGSSLROOTCERT"] == "/etc/coachdb/ca.crt"


# --- blue/green upgrade ------------------------------------------------------------


def test_green_side_on_the_new_major_has_its_own_image_volume_and_port() -> None:
    run = run_program({"greenMajor": "17"})
    images = sorted(r.inputs["name"] for r in run.of_type(IMAGE))
    assert images == ["postgres:14.23-bookworm", "postgres:17.10-bookworm"]
    volumes = {r.inputs["name"]: r for r in run.of_type(VOLUME)}
    data, sockets = (
        ["coachdb-pgdata", "coachdb-pgdata-17"],
        ["coachdb-pgdata-run", "coachdb-pgdata-17-run"],
    )
    assert set(volumes) == {*data, *sockets}
    # both sides' data are protected: the blue side stays until it is removed on purpose
    assert all(volumes[v].protect and volumes[v].retain_on_delete for v in data)
    # the socket directories hold no data
    assert not any(volumes[v].protect or volumes[v].retain_on_delete for v in sockets)
    containers = {r.inputs["name"]: r.inputs for r in run.of_type(CONTAINER)}
    assert set(containers) == {"coachdb-postgres", "coachdb-postgres-17"}
    green = containers["coachdb-postgres-17"]
    assert green["volumes"][0]["volumeName"] == "coachdb-pgdata-17"
    # each side's socket directory on its own volume, for the upgrade runner (docs/upgrade.md)
    for name, volume in (("coachdb-postgres", sockets[0]), ("coachdb-postgres-17", sockets[1])):
        assert containers[name]["volumes"][1] == {
            "volumeName": volume,
            "containerPath": server.SOCKET_DIR,
        }
    assert run.outputs["blue_socket_volume"] == sockets[0]
    assert run.outputs["green_socket_volume"] == sockets[1]
    assert run.outputs["green_image"] == "postgres:17.10-bookworm"
    assert green["ports"][0]["external"] == 5433
    assert containers["coachdb-postgres"]["ports"][0]["external"] == 5432
    # green's env file for `coachdb check --strict` before the switch: its port, a secret
    assert "DB_PORT=5433" in run.outputs["green_app_env"]
    assert "DB_PORT=5432" in run.outputs["app_env"]
    assert "green_app_env" in run.secret_outputs
    # the certificate also names the green container (clients on the Docker network)
    cert = x509.load_pem_x509_certificate(
        next(u for u in green["uploads"] if u["file"] == server.CERT_FILE)["content"].encode()
    )
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "coachdb-postgres-17" in sans.get_values_for_type(x509.DNSName)
    # blue stays active until the switch
    assert run.outputs["active_side"] == "blue"
    assert urllib.parse.urlsplit(run.outputs["database_url"]).port == 5432


def test_single_side_stacks_keep_their_container_without_a_socket_volume() -> None:
    """Stacks without greenMajor declare exactly what they declared before blue/green."""
    run = run_program({})
    assert [r.inputs["name"] for r in run.of_type(VOLUME)] == ["coachdb-pgdata"]
    assert [m["containerPath"] for m in run.one(CONTAINER).inputs["volumes"]] == [server.DATA_MOUNT]
    assert "blue_socket_volume" not in run.outputs


def test_active_side_switches_the_connection_outputs() -> None:
    run = run_program({"greenMajor": "17", "greenPort": "6543", "activeSide": "green"})
    assert run.outputs["active_side"] == "green"
    assert run.outputs["port"] == 6543
    for name in ("database_url", "migrator_database_url"):
        assert urllib.parse.urlsplit(run.outputs[name]).port == 6543
    assert "DB_PORT=6543" in run.outputs["app_env"]
    # the blue container is still declared: switching back is one config change
    assert len(run.of_type(CONTAINER)) == 2


@pytest.mark.parametrize(
    ("config", "key", "words"),
    [
        ({"activeSide": "green"}, "coachdb:activeSide", "no green side is declared"),
        ({"greenMajor": "14"}, "coachdb:greenMajor", "not newer than coachdb:postgresMajor 14"),
        ({"greenMajor": "13"}, "coachdb:greenMajor", "below 14"),
        ({"greenMajor": "17", "greenPort": "5432"}, "coachdb:greenPort", "the blue side's port"),
        (
            {"greenMajor": "17", "greenImage": "postgres:14.23"},
            "coachdb:greenImage",
            "not a PostgreSQL 17 tag",
        ),
    ],
)
def test_bad_blue_green_config_is_refused(config: dict[str, str], key: str, words: str) -> None:
    from coachdb_infra.common.config import ConfigError

    with pytest.raises(ConfigError) as caught:
        run_program(config)
    assert str(caught.value).startswith(f"{key}: ") and words in str(caught.value)


# --- blue/green by logical replication ---------------------------------------------------


def _by_name(run: ProgramRun) -> dict[str, Registration]:
    return {r.inputs["name"]: r for r in run.of_type(CONTAINER)}


def _files(reg: Registration) -> dict[str, dict]:
    return {u["file"]: u for u in reg.inputs["uploads"]}


def test_green_declared_blue_publishes_to_the_upgrade_role_from_the_network_only() -> None:
    run = run_program(
        {"greenMajor": "17"}, network_ipam={"subnet": "10.77.0.0/24", "gateway": "10.77.0.1"}
    )
    blue, green = _by_name(run)["coachdb-postgres"], _by_name(run)["coachdb-postgres-17"]
    # blue: logical WAL (a restart, folded into the replacement green's declaration causes)
    assert "wal_level=logical" in blue.inputs["command"]
    assert not any(a.startswith("wal_level=") for a in green.inputs["command"])
    # blue's pg_hba: the upgrade role to the app database from the stack network, the
    # gateway (published port) refused first, everywhere else refused; postgres still refused
    hba = [
        line.split()
        for line in _files(blue)[server.HBA_FILE]["content"].splitlines()
        if line and not line.startswith("#")
    ]
    role = profile.UPGRADE_ROLE
    upgrade_lines = [line for line in hba if line[2] == role]
    assert upgrade_lines == [
        ["hostssl", "all", role, "10.77.0.1/32", "reject"],
        ["hostssl", "elite_trading_coach_ai", role, "10.77.0.0/24", "scram-sha-256"],
        ["hostssl", "all", role, "all", "reject"],
    ]
    assert hba.index(upgrade_lines[-1]) < hba.index(
        ["hostssl", "all", "all", "all", "scram-sha-256"]
    )
    assert ["hostssl", "all", "postgres", "all", "reject"] in hba
    assert _files(green)[server.HBA_FILE]["content"] == server.PG_HBA
    # the role: an init script with a SCRAM verifier of the generated password, a secret
    script_file = f"{server.INITDB_DIR}/coachdb-30-upgrade-role.sql"
    script = _files(blue)[script_file]["content"]
    password = run.generated_passwords[f"{role}-password"]
    for reg in run.registrations:  # the password and its script travel as secrets only
        for prop, value in reg.raw_inputs.items():
            assert contains_secret(value) or password not in repr(value), (reg.name, prop)
    verifier = re.search(r"PASSWORD '([^']+)'", script)
    assert verifier and VERIFIER_RE.match(verifier[1]) and verify_password(password, verifier[1])
    assert password not in script
    assert f"ALTER ROLE {role} WITH LOGIN REPLICATION NOSUPERUSER" in script
    assert 'GRANT CONNECT ON DATABASE "elite_trading_coach_ai"' in script
    assert script_file not in _files(green)
    # green verifies blue with the stack's CA, by a name blue's certificate has
    assert _files(green)["/etc/coachdb/tls/ca.crt"]["content"] == run.outputs["ca_certificate"]
    publisher = dict(kv.split("=", 1) for kv in run.outputs["upgrade_publisher"].split())
    assert publisher == {
        "host": "coachdb-postgres",
        "port": "5432",
        "dbname": "elite_trading_coach_ai",
        "user": role,
        "sslmode": "verify-full",
        "sslrootcert": "/etc/coachdb/tls/ca.crt",
    }
    cert = x509.load_pem_x509_certificate(_files(blue)[server.CERT_FILE]["content"].encode())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert publisher["host"] in sans.get_values_for_type(x509.DNSName)
    # the password reaches the operator only as a secret output
    assert run.outputs["upgrade_password"] == password
    assert "upgrade_password" in run.secret_outputs
    assert "upgrade_publisher" not in run.secret_outputs


def test_single_side_stacks_declare_no_upgrade_role_or_logical_wal() -> None:
    run = run_program({})
    files = uploads(run)
    assert files[server.HBA_FILE]["content"] == server.PG_HBA
    assert profile.UPGRADE_ROLE not in server.PG_HBA
    assert not any("upgrade-role" in f for f in files)
    assert not any(a.startswith("wal_level=") for a in container(run)["command"])
    assert f"{profile.UPGRADE_ROLE}-password" not in run.generated_passwords
    assert "upgrade_publisher" not in run.outputs


def test_server_settings_cannot_undo_the_publishers_wal_level() -> None:
    run = run_program({"greenMajor": "17", "serverSettings": json.dumps({"max_wal_senders": "2"})})
    command = _by_name(run)["coachdb-postgres"].inputs["command"]
    assert "max_wal_senders=10" in command and "max_wal_senders=2" not in command
