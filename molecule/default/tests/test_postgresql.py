"""Server-side checks of the converged hosts: package, cluster, service, configuration.

Each test asks the running server or the file system inside the container; the client's
view (TLS, authentication from the controller) is in test_tls.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from test_probe_gates import _check_run


def test_install_record_matches_server(
    psql: Callable[..., str], pg_install_record: dict[str, Any]
) -> None:
    """The installed major is >= 14 and is the one the server runs.

    In CI the distribution lacks 14 and PGDG is unreachable, so this also proves the
    fallback path: requested 14, distribution major installed, recorded as a fallback.
    """
    version_num = int(psql("SHOW server_version_num"))
    installed = int(pg_install_record["installed_version"])
    assert version_num >= 140000
    assert version_num // 10000 == installed
    assert pg_install_record["requested_version"] == 14
    if installed != 14:
        assert pg_install_record["fallback"] is True
        assert pg_install_record["source"] == "distribution-fallback"
    else:
        assert pg_install_record["fallback"] is False


def test_service_enabled_and_running(host: Any, pg_version: int) -> None:
    """systemd runs the cluster's unit and starts it at boot."""
    service = host.service(f"postgresql@{pg_version}-main")
    assert service.is_running
    assert service.is_enabled
    assert host.file(f"/etc/postgresql/{pg_version}/main/start.conf").contains("^auto$")


def _unit(host: Any, pg_version: int) -> dict[str, str]:
    """systemd's view of the cluster's unit (a few properties)."""
    out = host.check_output(
        "systemctl show -p Type -p MainPID -p NeedDaemonReload -p ActiveState %s",
        f"postgresql@{pg_version}-main",
    )
    return dict(line.split("=", 1) for line in out.splitlines())


def _postmaster_pid(host: Any, pg_version: int) -> str:
    pidfile = host.file(f"/var/lib/postgresql/{pg_version}/main/postmaster.pid")
    return pidfile.content_string.split()[0]


def test_cluster_runs_in_the_foreground_of_its_unit(host: Any, pg_version: int) -> None:
    """The role's drop-in (postgresql_cluster_systemd_foreground): systemd runs postgres itself
    in the foreground (pg_ctlcluster --foreground), so the unit's main PID is the postmaster."""
    unit = _unit(host, pg_version)
    assert unit["Type"] == "simple", unit
    assert unit["NeedDaemonReload"] == "no", unit  # the drop-in was read before the first start
    assert unit["MainPID"] == _postmaster_pid(host, pg_version), unit


def test_restart_returns_when_the_server_accepts_connections(
    host: Any, pg_version: int, psql: Callable[..., str]
) -> None:
    """`pg_ctlcluster restart` (what the role's restart handler runs; it hands over to
    systemctl) returns only once the new postmaster accepts connections: the next statement
    needs no retry."""
    before = _postmaster_pid(host, pg_version)
    host.check_output("pg_ctlcluster %s main restart", str(pg_version))
    assert psql("SELECT 1") == "1"
    unit = _unit(host, pg_version)
    assert unit["ActiveState"] == "active", unit
    assert unit["MainPID"] == _postmaster_pid(host, pg_version) != before, unit


CLUSTER_FILES_TASK = (
    "postgresql_cluster : Protect the data directory (0700, owned by postgres), start the"
    " cluster at boot (start.conf), the unit's foreground drop-in"
)


def test_a_removed_dropin_is_put_back_without_a_restart(
    host: Any, pg_version: int, instance_name: str
) -> None:
    """The drop-in deleted by hand (and systemd told): check mode predicts the write, the run
    does exactly that (systemd re-reads the unit in the same step) and leaves the running
    server alone (same postmaster); the unit runs postgres in the foreground again from its
    next start."""
    dropin = f"/etc/systemd/system/postgresql@{pg_version}-main.service.d/coachdb-foreground.conf"
    saved = host.file(dropin).content_string
    before = _postmaster_pid(host, pg_version)
    host.check_output("rm -f %s && systemctl daemon-reload", dropin)
    try:
        assert _unit(host, pg_version)["Type"] == "forking"  # Debian's unit as shipped
        predicted = _check_run(instance_name)
        assert CLUSTER_FILES_TASK in predicted, sorted(predicted)
        changed = _check_run(instance_name, check=False)
        assert changed == predicted, f"predicted {sorted(predicted)}, changed {sorted(changed)}"
        assert host.file(dropin).content_string == saved
        unit = _unit(host, pg_version)
        assert unit["Type"] == "simple", unit
        assert unit["NeedDaemonReload"] == "no", unit
        assert _postmaster_pid(host, pg_version) == before
    finally:
        if not host.file(dropin).exists:
            host.check_output("printf '%%s' %s > %s && systemctl daemon-reload", saved, dropin)


def test_listens_only_where_configured(host: Any) -> None:
    """Loopback and the container's own address (molecule.yml), never the wildcard."""
    own = host.interface.default().addresses
    sockets = [s for s in host.socket.get_listening_sockets() if s.endswith(":5432")]
    addresses = {s.split("://", 1)[1].rsplit(":", 1)[0] for s in sockets}
    assert "127.0.0.1" in addresses
    assert addresses & set(own), f"not listening on the container address {own}: {sockets}"
    assert not addresses & {"0.0.0.0", "::", "*"}, sockets  # noqa: S104
    assert addresses <= {"127.0.0.1", "::1", *own}, sockets


def test_cluster_initdb_settings(psql: Callable[..., str]) -> None:
    """UTF8, C.UTF-8 collation/ctype, data checksums: fixed at initdb time."""
    assert psql("SHOW server_encoding") == "UTF8"
    assert psql("SHOW data_checksums") == "on"
    row = psql(
        "SELECT pg_encoding_to_char(encoding), datcollate, datctype "
        "FROM pg_database WHERE datname = 'template1'"
    )
    assert row == "UTF8|C.UTF-8|C.UTF-8"


def test_app_database_encoding_and_collation(psql: Callable[..., str]) -> None:
    """The application database (created by the role model) has the same settings."""
    row = psql(
        "SELECT pg_encoding_to_char(encoding), datcollate, datctype "
        "FROM pg_database WHERE datname = 'elite_trading_coach_ai'"
    )
    assert row == "UTF8|C.UTF-8|C.UTF-8"


def test_time_zones_are_utc(psql: Callable[..., str]) -> None:
    assert psql("SHOW TimeZone") == "UTC"
    assert psql("SHOW log_timezone") == "UTC"


def test_passwords_are_scram_only(psql: Callable[..., str]) -> None:
    """scram-sha-256 is the encryption, and every stored hash is a SCRAM verifier."""
    assert psql("SHOW password_encryption") == "scram-sha-256"
    hashes = psql(
        "SELECT rolname || ' ' || rolpassword FROM pg_authid WHERE rolpassword IS NOT NULL"
    )
    for line in hashes.splitlines():
        name, _, verifier = line.partition(" ")
        assert verifier.startswith("SCRAM-SHA-256$"), f"{name} has a non-SCRAM password hash"


def test_tls_settings(psql: Callable[..., str]) -> None:
    assert psql("SHOW ssl") == "on"
    assert psql("SHOW ssl_min_protocol_version") == "TLSv1.2"
    ciphers = psql("SHOW ssl_ciphers")
    assert ciphers.startswith("ECDHE+"), ciphers
    assert "!aNULL" in ciphers


def test_cis_logging_settings(psql: Callable[..., str]) -> None:
    """CIS PostgreSQL 14 benchmark section 3.1."""
    expected = {
        "logging_collector": "on",
        "log_connections": "on",
        "log_disconnections": "on",
        "log_statement": "ddl",
        "log_file_mode": "0600",
        "log_truncate_on_rotation": "on",
        "log_min_messages": "warning",
        "log_min_error_statement": "error",
        "log_hostname": "off",
        "log_error_verbosity": "verbose",
    }
    for name, value in expected.items():
        assert psql(f"SHOW {name}") == value, name
    prefix = psql("SHOW log_line_prefix")
    for part in ("%m", "[%p]", "%d", "%u", "%a", "%h"):
        assert part in prefix, prefix


def test_memory_sized_with_pgtune_formulas(psql: Callable[..., str], host: Any) -> None:
    """molecule.yml sizes for 1024 MB: check each setting against the documented formula."""
    ram_mb = 1024
    cpus = int(host.check_output("nproc"))

    def kb(name: str) -> int:
        return int(psql(f"SELECT pg_size_bytes(current_setting('{name}')) / 1024"))

    shared_buffers_mb = ram_mb // 4
    workers = cpus if cpus >= 4 else 8
    assert kb("shared_buffers") == shared_buffers_mb * 1024
    assert kb("effective_cache_size") == ram_mb * 3 // 4 * 1024
    assert kb("maintenance_work_mem") == min(ram_mb // 16, 8192) * 1024
    assert kb("wal_buffers") == min(max(shared_buffers_mb * 1024 * 3 // 100, 32), 16384)
    work_mem = max((ram_mb - shared_buffers_mb) * 1024 // ((100 + workers) * 3), 4096)
    assert kb("work_mem") == work_mem
    assert psql("SHOW max_worker_processes") == str(workers)
    assert psql("SHOW checkpoint_completion_target") == "0.9"
    assert psql("SHOW random_page_cost") == "1.1"


def test_archiving_hook_applied(psql: Callable[..., str], host: Any) -> None:
    """Backups are on in this scenario: pgBackRest is configured and WAL is archived to it."""
    assert host.file("/etc/pgbackrest/pgbackrest.conf").exists, "the backup role did not run"
    assert psql("SHOW archive_mode") == "on"
    assert "pgbackrest --stanza=coachdb archive-push" in psql("SHOW archive_command")


def test_no_restart_pending(psql: Callable[..., str]) -> None:
    """Every setting in the files is live: the handlers restarted when a change needed it."""
    assert psql("SELECT count(*) FROM pg_file_settings WHERE error IS NOT NULL") == "0"
    assert psql("SELECT count(*) FROM pg_settings WHERE pending_restart") == "0"


def test_file_owners_and_modes(host: Any, pg_version: int) -> None:
    """CIS 1.4 / dev-sec 10, 20: private data, configuration, key and log files."""
    conf = f"/etc/postgresql/{pg_version}/main"
    expected = {
        f"/var/lib/postgresql/{pg_version}/main": 0o700,
        conf: 0o700,
        f"{conf}/postgresql.conf": 0o640,
        f"{conf}/pg_hba.conf": 0o600,
        "/etc/postgresql/coachdb-tls/server.key": 0o600,
        f"/var/log/postgresql/{pg_version}-main": 0o700,
    }
    for path, mode in expected.items():
        f = host.file(path)
        assert f.exists, path
        assert f.user == "postgres", path
        assert f.group == "postgres", path
        assert f.mode == mode, f"{path}: {oct(f.mode)}"
    ca_key = host.file("/etc/postgresql/coachdb-ca/ca.key")
    assert (ca_key.user, ca_key.mode) == ("root", 0o600)
    logs = host.check_output(
        f"find /var/log/postgresql/{pg_version}-main -type f -printf '%m %u\\n'"
    )
    assert logs, "the logging collector wrote no file"
    assert set(logs.splitlines()) == {"600 postgres"}


def test_pg_hba_rules(host: Any, pg_version: int) -> None:
    """local peer for postgres, hostssl + scram-sha-256 for TCP, closing reject; nothing weak."""
    rules = [
        line.split()
        for line in host.file(
            f"/etc/postgresql/{pg_version}/main/pg_hba.conf"
        ).content_string.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert rules[0] == ["local", "all", "postgres", "peer"]
    assert rules[-1] == ["hostnossl", "all", "all", "all", "reject"]
    for rule in rules[:-1]:
        assert rule[0] in {"local", "hostssl"}, rule
        assert rule[-1] in {"peer", "scram-sha-256"}, rule
        if rule[0] == "hostssl":
            assert rule[-1] == "scram-sha-256", rule
    assert not {"trust", "md5", "password"} & {word for rule in rules for word in rule}


def test_one_postmaster(host: Any) -> None:
    """dev-sec 03: exactly one postmaster process."""
    out = host.check_output("ps -eo ppid,comm | awk '$1 == 1 && $2 ~ /^postgres/' | wc -l")
    assert out == "1"
