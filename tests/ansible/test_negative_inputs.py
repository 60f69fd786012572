"""Bad input to site.yml fails before any change, with a message that says what to fix.

Each case gives the real playbook (check mode, against this machine) one bad value and
asserts: the play fails, the message names the problem and the fix, and the recap shows no
task that would have changed anything.

Why one run for all cases: a playbook run costs seconds of start-up (parsing, roles, argument
specs) whatever it does, and the cases differ only in their variables. So each case is one
inventory host of one check-mode run (its variables are that host's, all hosts connect
locally), the way test_tls_rerun.py runs its cases. Hosts fail independently (no run_once or
any_errors_fatal in the standalone play's preflight), and the JSON callback gives each host's
own results and recap, so a case passes only on ITS host's failure message: a check that stops
working turns exactly its case red. Only the cases pytest selected become hosts, so a single
case (the mutation check's selection) runs alone.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from coachdb import profile
from tests.support.archive import S3_REPO
from tests.support.playbook import HostRun, run_hosts, selected_tests

REPO = Path(__file__).resolve().parents[2]
ANSIBLE = REPO / "ansible"
SITE = ANSIBLE / "site.yml"
ROLES_ALONE = REPO / "tests" / "ansible" / "playbooks" / "roles_alone.yml"

pytestmark = pytest.mark.slow


def _guarded(name: str, guarantee: str) -> str:
    return (
        "postgresql_config_extra_settings (postgresql_extra_settings in site.yml) may not set "
        f"{name}: it is a guarded setting ({guarantee})"
    )


CASES: dict[str, tuple[dict[str, Any], list[str]]] = {
    "major-13": (
        {"postgresql_version": 13},
        [
            "postgresql_version=13 is not supported",
            "PostgreSQL 13 is below 14",
            "Set postgresql_version to one of 14, 15, 16, 17, 18",
        ],
    ),
    "major-19-unknown": (
        {"postgresql_version": 19},
        ["postgresql_version=19 is not supported", "PostgreSQL 19 is unknown to this release"],
    ),
    "major-14-past-eol-strict": (
        {"postgresql_version": 14, "postgresql_eol_strict": True, "coachdb_today": "2026-11-29"},
        [
            "PostgreSQL 14 reached end of life on 2026-11-12",
            "postgresql_eol_strict=true refuses to deploy it",
        ],
    ),
    "major-not-a-number": (
        {"postgresql_version": "fourteen"},
        ["postgresql_version must be a whole number, got 'fourteen' (str)"],
    ),
    "port-70000": (
        {"postgresql_port": 70000},
        [
            "postgresql_config_port (postgresql_port in site.yml) must be between 1 and 65535 "
            "(got 70000)"
        ],
    ),
    "empty-database-name": (
        {"postgresql_database": ""},
        ["is not a valid name"],
    ),
    "malformed-user-name": (
        {"postgresql_app_user": "Bad-User!"},
        ["'Bad-User!' is not a valid name"],
    ),
    "weak-password": (
        {"postgresql_app_password": "short"},  # pragma: allowlist secret (test value)
        ["at least 16 are required"],
    ),
    "unsupported-os": (
        {"postgresql_install_supported_platforms": ["Ubuntu 24.04"]},
        ["Unsupported platform 'Debian", "This role supports Ubuntu 24.04"],
    ),
    "listen-address-list-in-one-string": (
        {"postgresql_listen_addresses": ["localhost, 10.0.0.1"]},
        ["postgresql_listen_addresses must be a non-empty list"],
    ),
    "bad-extra-san": (
        {"postgresql_tls_extra_sans": ["not a host name"]},
        ["postgresql_tls_extra_sans must list DNS names or IP addresses"],
    ),
    "hba-entry-not-cidr": (
        {"postgresql_hba_entries": [{"address": "everyone"}]},
        ["address must be CIDR"],
    ),
    # Issue 16: inputs that would silently weaken a guarantee.
    "backup-enabled-maybe": (
        {"coachdb_backup_enabled": "maybe"},
        ["coachdb_backup_enabled must be a boolean: true or false (yes/no also accepted), "
         "got 'maybe' (str)"],
    ),
    "extra-settings-ssl-off": (
        {"postgresql_extra_settings": {"ssl": "off"}},
        [_guarded("ssl", "TLS on every TCP connection")],
    ),
    "extra-settings-password-encryption-md5": (
        {"postgresql_extra_settings": {"password_encryption": "md5"}},  # pragma: allowlist secret
        [_guarded("password_encryption", "SCRAM-SHA-256 only")],
    ),
    "extra-settings-fsync-off": (
        {"postgresql_extra_settings": {"fsync": "off"}},
        [_guarded("fsync", "committed data survives a crash")],
    ),
    "extra-settings-tls-1.0": (
        {"postgresql_extra_settings": {"ssl_min_protocol_version": "TLSv1"}},
        [_guarded("ssl_min_protocol_version", "TLS 1.2 or newer"),
         "the proper way: postgresql_config_ssl_min_protocol_version"],
    ),
    "extra-settings-listen-everywhere": (
        {"postgresql_extra_settings": {"listen_addresses": "*"}},
        [_guarded("listen_addresses", "only the validated addresses"),
         "the proper way: postgresql_listen_addresses"],
    ),
    "extra-settings-archive-off-while-backups-on": (
        {"postgresql_extra_settings": {"archive_mode": "off"}},
        [_guarded("archive_mode", "WAL archived for point-in-time recovery")],
    ),
    "extra-settings-key-value-string": (
        # -e 'postgresql_extra_settings={"ssl":"off"}' hands the playbook a string
        {"postgresql_extra_settings": '{"ssl":"off"}'},
        ["postgresql_extra_settings must be a mapping"],
    ),
    "memory-negative-names-only-memory": (
        {"postgresql_memory_mb": -5},
        ["postgresql_config_memory_mb (postgresql_memory_mb in site.yml) must be at least 256 "
         "(got -5)"],
    ),
    "waiver-names-an-unguarded-setting": (
        {"postgresql_unsafe_settings_allowed": ["work_mem"]},
        ["lists 'work_mem', which is not a guarded setting"],
    ),
    "s3-unverified-tls-without-waiver": (
        {**S3_REPO, "postgresql_backup_s3_verify_tls": False},
        ["postgresql_backup_s3_verify_tls may not set repo1-storage-verify-tls: it is a guarded "
         "setting (pgBackRest verifies the S3 store's TLS certificate)",
         "add repo1-storage-verify-tls to postgresql_backup_unsafe_settings_allowed"],
    ),
    "archive-queue-below-1gb": (
        {"postgresql_backup_archive_push_queue_max": "100MB"},
        ["postgresql_backup_archive_push_queue_max a size of at least 1GB such as 8GB",
         "100MB"],
    ),
    "exporter-on-every-address-without-tls": (
        {"coachdb_monitoring_enabled": True,
         "postgresql_monitoring_listen_address": "0.0.0.0:9187"},
        ["postgresql_monitoring_listen_address 0.0.0.0:9187 is not a loopback address",
         "Set postgresql_monitoring_web_config_file"],
    ),
    "node-exporter-on-every-address-without-tls": (
        {"coachdb_monitoring_enabled": True,
         "postgresql_monitoring_textfile_listen_address": "[::]:9100"},
        ["postgresql_monitoring_textfile_listen_address [::]:9100 is not a loopback address",
         "Set postgresql_monitoring_web_config_file"],
    ),
    "exporter-unknown-collector": (
        {"coachdb_monitoring_enabled": True,
         "postgresql_monitoring_collectors": ["stat_statements", "stat_bogus"]},
        ["postgresql_monitoring_collectors", "stat_bogus"],
    ),
    "role-boolean-on-is-not-canonical": (
        {"postgresql_cluster_data_checksums": "on"},
        ["postgresql_cluster_data_checksums must be a boolean: true or false (yes/no also "
         "accepted), got 'on' (str)"],
    ),
    "several-wrong-types-each-named": (
        {"postgresql_version_strict": "on", "postgresql_hba_entries": "10.0.0.0/8",
         "postgresql_port": "fivefour"},
        ["postgresql_version_strict must be a boolean", "postgresql_hba_entries must be a list",
         "postgresql_port must be a whole number, got 'fivefour'"],
    ),
}  # fmt: skip

# Messages that must NOT appear for a case: only the wrong input is named.
ABSENT: dict[str, list[str]] = {
    "memory-negative-names-only-memory": ["postgresql_port", "max_connections", "cpus"],
    "backup-enabled-maybe": ["postgresql_version_strict", "postgresql_extra_settings"],
}


# site.yml cases that the tests below assert differently (host name -> variables).
EVERY_GUARD = "every-guarded-setting"
ARCHIVE_FREE = "archive-settings-free-when-backups-off"
STRICT_VERSION = "strict-version-refuses-the-fallback"
SERVER_GUARDS = [g for g in profile.GUARDS if g.scope == "server"]
OTHER_SITE_CASES: dict[str, dict[str, Any]] = {
    # The whole guarded list at once (backups on): one message per setting.
    EVERY_GUARD: {"postgresql_extra_settings": {g.name: "off" for g in SERVER_GUARDS}},
    # archive_mode is guarded only while backups are on: with them off the guard is silent
    # (the bad port makes the play fail, so the absence is read from a finished preflight).
    ARCHIVE_FREE: {"coachdb_backup_enabled": False,
                   "postgresql_extra_settings": {"archive_mode": "off"}, "postgresql_port": 70000},
    STRICT_VERSION: {
        "postgresql_version_strict": True,
        # A closed local port: unreachable at once, whatever the machine's network.
        "postgresql_install_pgdg_repo_url": "http://127.0.0.1:9/pgdg",
        "postgresql_install_pgdg_probe_timeout": 2,
        # this machine's package lists count as fresh: a stale-list refresh is not the
        # change this test is about
        "postgresql_install_apt_cache_valid_time": 10 * 365 * 86400,
    },
}  # fmt: skip

# Each role applied alone (roles_alone.yml, no site.yml preflight): host -> (variables, message)
ROLE_ALONE_CASES: dict[str, tuple[dict[str, Any], str]] = {
    "tls-bad-san": (
        {"role_alone": "postgresql_tls", "postgresql_tls_extra_sans": ["not a host name"]},
        "postgresql_tls_extra_sans must list DNS names or IP addresses"),
    "install-major-13": (
        {"role_alone": "postgresql_install", "postgresql_install_version": 13},
        "postgresql_version=13 is not supported"),
    "config-port-70000": (
        {"role_alone": "postgresql_config", "postgresql_config_port": 70000},
        "postgresql_config_port (postgresql_port in site.yml) must be between 1 and 65535"),
}  # fmt: skip


def _apt_candidate(package: str) -> bool:
    out = subprocess.run(
        ["apt-cache", "policy", package], capture_output=True, text=True, check=False
    ).stdout
    return bool(re.search(r"Candidate:\s+[0-9]", out))


def _strict_version_unfit() -> str:
    """Why the strict-version case cannot run here ('' when it can)."""
    # The apt module in check mode needs python3-apt for the system Python.
    probe = ["/usr/bin/python3", "-c", "import apt"]
    if subprocess.run(probe, capture_output=True, check=False).returncode != 0:
        return "python3-apt is not installed for /usr/bin/python3"
    if not _apt_candidate("postgresql"):
        return "apt has no package lists here (run apt-get update)"
    if _apt_candidate("postgresql-14"):
        return "this machine's apt can install PostgreSQL 14: nothing to fall back from"
    return ""


def _selected_hosts(session: pytest.Session) -> tuple[set[str], set[str]]:
    """The site.yml and roles_alone.yml hosts the selected tests of this module read."""
    site: set[str] = set()
    alone: set[str] = set()
    fixed = {
        "test_every_guarded_setting_is_refused": EVERY_GUARD,
        "test_archive_settings_are_free_when_backups_are_off": ARCHIVE_FREE,
        "test_strict_version_refuses_the_fallback": STRICT_VERSION,
    }
    for name, params in selected_tests(session.items, __name__):
        if name == "test_bad_input_fails_before_any_change":
            site.add(str(params["case"]))
        elif name == "test_a_role_applied_alone_checks_its_inputs":
            alone.add(str(params["case"]))
        elif name in fixed:
            site.add(fixed[name])
    if STRICT_VERSION in site and _strict_version_unfit():
        site.discard(STRICT_VERSION)  # its test skips, saying why
    return site, alone


@pytest.fixture(scope="module")
def runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, HostRun]:
    """Every selected site.yml case's host, one check-mode run."""
    if not Path("/usr/bin/python3").exists():
        pytest.skip("/usr/bin/python3 missing")
    site, _ = _selected_hosts(request.session)
    work = tmp_path_factory.mktemp("site")
    variables = {**{name: case[0] for name, case in CASES.items()}, **OTHER_SITE_CASES}
    hosts = {h: variables[h] for h in site}
    secrets = {"coachdb_secrets_dir": str(work / "secrets")}
    return run_hosts(SITE, hosts, work / "site.yml", "--check", extra_vars=secrets, cwd=ANSIBLE)


@pytest.fixture(scope="module")
def alone_runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, HostRun]:
    """Every selected roles_alone.yml case's host, one check-mode run (apart from site.yml's:
    a role alone that gets past its checks may abort its whole run, e.g. notify a handler
    of a role that is not in the play)."""
    _, alone = _selected_hosts(request.session)
    work = tmp_path_factory.mktemp("alone")
    hosts = {h: ROLE_ALONE_CASES[h][0] for h in alone}
    secrets = {"coachdb_secrets_dir": str(work / "secrets")}
    return run_hosts(
        ROLES_ALONE, hosts, work / "alone.yml", "--check", extra_vars=secrets, cwd=ANSIBLE
    )


def _refused(run: HostRun, case: str) -> None:
    """The case's host failed once and nothing would have changed before."""
    assert run.stats["failures"] == 1, f"{case}: the play did not fail once\n{run.show()}"
    assert run.stats["unreachable"] == 0, run.show()
    assert run.stats["changed"] == 0, f"{case}: a task would have changed something first"


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_fails_before_any_change(runs: dict[str, HostRun], case: str) -> None:
    run = runs[case]
    _refused(run, case)
    for message in CASES[case][1]:
        assert message in run.failure, f"{case}: {message!r} not in\n{run.show()}"
    for message in ABSENT.get(case, []):
        assert message not in run.failure, f"{case}: {message!r} named too:\n{run.failure}"


def test_every_guarded_setting_is_refused(runs: dict[str, HostRun]) -> None:
    """The whole guarded list at once (backups on): one message per setting, nothing changed."""
    run = runs[EVERY_GUARD]
    _refused(run, EVERY_GUARD)
    for guard in SERVER_GUARDS:
        assert _guarded(guard.name, guard.guarantee) in run.failure, guard.name


def test_archive_settings_are_free_when_backups_are_off(runs: dict[str, HostRun]) -> None:
    """archive_mode is guarded only while backups are on: with them off the guard is silent."""
    run = runs[ARCHIVE_FREE]
    _refused(run, ARCHIVE_FREE)
    assert "may not set archive_mode" not in run.text
    assert "must be between 1 and 65535 (got 70000)" in run.failure, run.show()


def test_strict_version_refuses_the_fallback(runs: dict[str, HostRun]) -> None:
    """With postgresql_version_strict, an unobtainable 14 is an error, not a warning."""
    unfit = _strict_version_unfit()
    if unfit:
        pytest.skip(unfit)
    run = runs[STRICT_VERSION]
    _refused(run, STRICT_VERSION)
    for message in ("PostgreSQL 14 cannot be installed", "postgresql_version_strict=false",
                    "127.0.0.1:9/pgdg"):  # fmt: skip
        assert message in run.failure, f"{message!r} not in\n{run.show()}"


@pytest.mark.parametrize("case", sorted(ROLE_ALONE_CASES))
def test_a_role_applied_alone_checks_its_inputs(alone_runs: dict[str, HostRun], case: str) -> None:
    """Without site.yml's preflight, the role's own run checks its inputs before any change."""
    run = alone_runs[case]
    _refused(run, case)
    assert ROLE_ALONE_CASES[case][1] in run.failure, run.show()
