"""Every target's rendered configuration carries the same server profile (coachdb.profile).

Ansible's postgresql.conf/pg_hba.conf are rendered by ansible-playbook from the role's
templates; the Docker target's container command and pg_hba.conf and the Railway bootstrap
script are what the Pulumi program ships. Each is parsed back, the security and baseline
settings must equal the profile's on all three, and each pg_hba.conf must consist of the
profile's rules for that target (no trust/md5/password, TCP only hostssl + SCRAM, plaintext
rejected last). The env files and URLs of all targets come from one builder, checked here too.
"""

from __future__ import annotations

import re
import shlex
import sys
import urllib.parse
from pathlib import Path

import pytest
from coachdb_infra.docker import server
from coachdb_infra.railway import bootstrap

from coachdb import profile
from tests.support.playbook import run_playbook

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO / "tests" / "ansible" / "playbooks" / "render_config.yml"
# The settings whose values must not differ between targets (paths legitimately do).
SHARED = [
    name
    for name in [
        *profile.security_settings(cert_file="", key_file=""),
        *profile.baseline_settings(),
    ]
    if name not in ("ssl_cert_file", "ssl_key_file")
]


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1].replace("''", "'")
    return value


def parse_conf(text: str) -> dict[str, str]:
    settings = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, value = line.partition("=")
        settings[name.strip()] = _unquote(value)
    return settings


def parse_args(args: list[str]) -> dict[str, str]:
    settings = {}
    for flag, pair in zip(args[1::2], args[2::2], strict=True):
        assert flag == "-c", args
        name, _, value = pair.partition("=")
        settings[name] = value
    return settings


def parse_railway_script(script: str) -> dict[str, str]:
    """The -c arguments of the bootstrap's exec line, as sh would split them."""
    exec_line = script[script.index('exec "$entrypoint" postgres') :].replace("\\\n", " ")
    words = shlex.split(exec_line.splitlines()[0])
    return parse_args(["postgres", *words[3:]])


def parse_hba(text: str) -> list[profile.HbaRule]:
    rules = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        words = line.split()
        if words[0] == "local":
            words.insert(3, "")
        assert len(words) == 5, line
        rules.append(profile.HbaRule(*words))
    return rules


def _pg_text(value: profile.SettingValue) -> str:
    return profile.pg_value(value)


@pytest.fixture(scope="module")
def ansible_rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    dest = tmp_path_factory.mktemp("render")
    extra = {
        "ansible_python_interpreter": sys.executable,
        "render_dest": str(dest),
        "postgresql_config_version": 14,
        "postgresql_config_memory_mb": 1024,
        "postgresql_config_cpus": 2,
        "postgresql_config_hba_entries": [
            {"database": "elite_trading_coach_ai", "user": "trading_coach_user",
             "address": "10.0.0.0/8"}
        ],
    }  # fmt: skip
    run = run_playbook(PLAYBOOK, extra, timeout=300)
    assert run.rc == 0, run.output[-5000:]
    return {name: (dest / name).read_text() for name in ("postgresql.conf", "pg_hba.conf")}


def test_every_target_applies_the_profile_settings(ansible_rendered: dict[str, str]) -> None:
    targets = {
        "ansible": parse_conf(ansible_rendered["postgresql.conf"]),
        "docker": parse_args(server.server_args(1024)),
        "railway": parse_railway_script(bootstrap.BOOTSTRAP_SCRIPT),
    }
    expected = {
        **profile.security_settings(cert_file="", key_file=""),
        **profile.baseline_settings(),
    }
    for target, settings in targets.items():
        for name in SHARED:
            assert name in settings, f"{target} does not set {name}"
            assert settings[name] == _pg_text(expected[name]), (
                f"{target}: {name} = {settings[name]!r}, the profile says {expected[name]!r}"
            )
        # The certificate and key are always configured (paths differ per target).
        assert settings["ssl_cert_file"] and settings["ssl_key_file"], target
    assert profile.SSL_CIPHERS in docs_security_text(), "docs/security.md shows another cipher list"


def docs_security_text() -> str:
    return (REPO / "docs" / "security.md").read_text()


def _check_hba_shape(target: str, rules: list[profile.HbaRule]) -> None:
    assert rules[0] == profile.HbaRule("local", "all", "postgres", "", "peer"), target
    assert rules[-1] == profile.HbaRule("hostnossl", "all", "all", "all", "reject"), target
    for rule in rules:
        assert rule.method in ("peer", "scram-sha-256", "reject"), f"{target}: {rule}"
        if rule.kind != "local":
            assert rule.kind == "hostssl" or rule.method == "reject", f"{target}: {rule}"


def test_every_target_writes_the_profile_pg_hba(ansible_rendered: dict[str, str]) -> None:
    rendered = {
        "ansible": parse_hba(ansible_rendered["pg_hba.conf"]),
        "docker": parse_hba(server.PG_HBA),
        "railway": parse_hba(bootstrap.PG_HBA),
    }
    expected = {
        "ansible": profile.hba_rules(
            local_method="peer",
            tcp_sources=[
                *profile.LOOPBACK,
                {"database": "elite_trading_coach_ai", "user": "trading_coach_user",
                 "address": "10.0.0.0/8"},
            ],
            local_replication=True,
        ),
        "docker": parse_hba(profile.docker_hba()),
        "railway": parse_hba(profile.railway_hba()),
    }  # fmt: skip
    for target, rules in rendered.items():
        _check_hba_shape(target, rules)
        assert rules == expected[target], f"{target}'s pg_hba.conf is not the profile's"
    # The Docker container refuses the superuser over TCP; every target refuses plaintext.
    assert profile.HbaRule("hostssl", "all", "postgres", "all", "reject") in rendered["docker"]


def test_env_file_and_urls_come_from_one_builder(tmp_path: Path) -> None:
    """The Ansible env file (role template) has the same body as the Pulumi one."""
    lines = profile.app_env_lines(
        user="trading_coach_user",
        password="p@ss/word:1",  # pragma: allowlist secret (test value)
        host="::1",
        port=5432,
        database="elite_trading_coach_ai",
        ca_path="/etc/coach db/ca.crt",
    )
    env = dict(line.split("=", 1) for line in lines)
    url = urllib.parse.urlsplit(env["DATABASE_URL"])
    assert url.hostname == "::1" and url.port == 5432
    assert urllib.parse.unquote(url.password or "") == "p@ss/word:1"
    query = urllib.parse.parse_qs(url.query)
    assert query == {"sslmode": ["verify-full"], "sslrootcert": ["/etc/coach db/ca.crt"]}
    template = (REPO / "roles/postgresql_rolemodel/templates/app.env.j2").read_text()
    assert "coachdb_app_env_lines" in template and "DATABASE_URL=" not in template
    for path in ("pulumi/coachdb_infra/docker/deploy.py", "pulumi/coachdb_infra/railway/deploy.py"):
        source = (REPO / path).read_text()
        assert not re.search(r"postgresql://", source), f"{path} builds a URL of its own"
