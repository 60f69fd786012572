"""The exporter on Debian 12 (0.11) and 13 (0.17): a real scrape from inside the host.

Proves pg_up 1 (the pg_monitor role logs in over the socket by peer, no password),
database statistics, statement statistics (0.11: the role's query file; 0.17: the
stat_statements collector) and a WAL archiver that has archived and never failed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

URL = "http://127.0.0.1:9187/metrics"


def _metrics(host: Any) -> str:
    # Some statements first, so pg_stat_statements has rows to report.
    host.run("runuser -u postgres -- psql -d postgres -Atc 'SELECT count(*) FROM pg_class'")
    fetch = f"import urllib.request; print(urllib.request.urlopen('{URL}').read().decode())"
    result = host.run(f'python3 -c "{fetch}"')
    assert result.rc == 0, result.stderr
    return str(result.stdout)


def _value(text: str, pattern: str) -> list[float]:
    return [float(m) for m in re.findall(rf"^{pattern}(?:{{[^}}]*}})? ([0-9.e+-]+)$", text, re.M)]


@pytest.fixture
def scrape(host: Any) -> str:
    return _metrics(host)


def test_exporter_listens_on_loopback_only(host: Any) -> None:
    sockets = [str(s) for s in host.socket.get_listening_sockets()]
    assert "tcp://127.0.0.1:9187" in sockets, sockets
    assert not any(s.endswith(":9187") and "127.0.0.1" not in s for s in sockets), sockets


def test_exporter_never_ran_with_the_package_defaults(host: Any) -> None:
    """Started once with the role's settings: never by the package with its empty DSN.

    Debian's postinst would start it with DATA_SOURCE_NAME='' (it exits at once and loops into
    systemd's start limit, which then refuses the role's own start when the converge is fast).
    """
    journal = host.run("journalctl -u prometheus-postgres-exporter -o cat --no-pager")
    assert journal.rc == 0, journal.stderr
    assert "Started prometheus-postgres-exporter" in journal.stdout, journal.stdout[-2000:]
    for failure in ("malformed dsn", "Start request repeated too quickly", "status=1/FAILURE"):
        assert failure not in journal.stdout, journal.stdout[-2000:]


def test_exporter_reaches_postgresql(scrape: str) -> None:
    assert _value(scrape, "pg_up") == [1.0]


def test_database_statistics(scrape: str) -> None:
    commits = re.findall(
        r'^pg_stat_database_xact_commit\{[^}]*datname="postgres"[^}]*\} (\S+)$', scrape, re.M
    )
    assert commits and float(commits[0]) > 0, "no pg_stat_database_xact_commit for postgres"


def test_statement_statistics(scrape: str) -> None:
    calls = [
        float(v)
        for v in re.findall(r"^pg_stat_statements_calls(?:_total)?\{[^}]*\} (\S+)$", scrape, re.M)
    ]
    assert calls and max(calls) >= 1, "no statement statistics in the scrape"


def test_wal_archiver_has_no_failures(scrape: str) -> None:
    assert _value(scrape, "pg_stat_archiver_failed_count") == [0.0]
    archived = _value(scrape, "pg_stat_archiver_archived_count")
    assert archived and archived[0] >= 1, "nothing archived yet"


def test_exporter_has_no_password(host: Any, psql: Callable[..., str]) -> None:
    """Peer over the socket: no password in the exporter's settings, none on its role."""
    settings = host.file("/etc/default/prometheus-postgres-exporter").content_string
    dsn = next(line for line in settings.splitlines() if line.startswith("DATA_SOURCE_NAME="))
    assert "password" not in dsn.lower() and "@" not in dsn, dsn
    assert "user=prometheus host=/var/run/postgresql" in dsn
    role = psql(
        "SELECT rolcanlogin, rolsuper, rolpassword IS NULL, "
        "(SELECT string_agg(g.rolname, ',') FROM pg_auth_members m "
        " JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = a.oid) "
        "FROM pg_authid a WHERE rolname = 'prometheus'"
    )
    assert role == "t|f|t|pg_monitor", role
