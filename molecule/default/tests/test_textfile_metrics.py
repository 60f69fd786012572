"""The alert rules' textfile metrics on Debian 12 and 13: a real backup, a real scrape.

CoachdbBackupTooOld and CoachdbServerCertExpiring read two metrics that the timer job
coachdb-textfile-metrics writes for node_exporter's textfile collector. Proves: the names
are the ones the rules read (coachdb.alerts), the backup timestamp is the stop time of the
backup this test takes (inside the wrapper's run window), the certificate's notAfter is
the one of the file PostgreSQL serves (parsed here with cryptography, not openssl), and
node_exporter listens on loopback only.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from cryptography import x509

from coachdb.alerts import BACKUP_METRIC, CERT_METRIC

URL = "http://127.0.0.1:9100/metrics"
STATUS_FILE = "/var/lib/pgbackrest/coachdb-last-backup.json"
CERT_FILE = "/etc/postgresql/coachdb-tls/server.crt"
TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"


def _scrape(host: Any) -> str:
    fetch = f"import urllib.request; print(urllib.request.urlopen('{URL}').read().decode())"
    result = host.run(f'python3 -c "{fetch}"')
    assert result.rc == 0, result.stderr
    return str(result.stdout)


def _value(text: str, name: str) -> float:
    values = re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M)
    assert len(values) == 1, f"{name}: {values} in\n{text[-2000:]}"
    return float(values[0])


def _utc(stamp: str) -> float:
    return dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).timestamp()


def test_backup_metric_left_by_the_converge_names_a_backup(host: Any) -> None:
    """The textfile written by the converge itself (not refreshed here) reports a backup: the
    first full backup runs in the background (postgresql_backup, async) and the metrics job
    must run after it finished (its handler waits first), not while it runs (0: none)."""
    prom = host.file(f"{TEXTFILE_DIR}/coachdb.prom").content_string
    assert _value(prom, BACKUP_METRIC) > 0, prom


def test_node_exporter_listens_on_loopback_only(host: Any) -> None:
    sockets = [str(s) for s in host.socket.get_listening_sockets()]
    assert "tcp://127.0.0.1:9100" in sockets, sockets
    assert not any(s.endswith(":9100") and "127.0.0.1" not in s for s in sockets), sockets
    assert host.service("coachdb-textfile-metrics.timer").is_enabled
    assert host.service("coachdb-textfile-metrics.timer").is_running


def test_backup_timestamp_is_the_backup_just_taken(host: Any) -> None:
    backup = host.run("systemctl start coachdb-backup-diff.service")
    assert backup.rc == 0, backup.stderr
    status = json.loads(host.file(STATUS_FILE).content_string)
    assert status["status"] == "ok", status
    job = host.run("systemctl start coachdb-textfile-metrics.service")
    assert job.rc == 0, job.stderr + host.run("journalctl -u coachdb-textfile-metrics -n 20").stdout
    stop = _value(_scrape(host), BACKUP_METRIC)
    # the repository's stop time lies inside the wrapper's run (second resolution both)
    assert _utc(status["started_at"]) - 1 <= stop <= _utc(status["finished_at"]) + 1, (
        stop,
        status,
    )


def test_cert_not_after_equals_the_served_certificate(host: Any) -> None:
    job = host.run("systemctl start coachdb-textfile-metrics.service")
    assert job.rc == 0, job.stderr
    cert = x509.load_pem_x509_certificate(host.file(CERT_FILE).content)
    assert _value(_scrape(host), CERT_METRIC) == cert.not_valid_after_utc.timestamp()


def test_textfile_is_replaced_atomically_and_world_readable(host: Any) -> None:
    prom = host.file(f"{TEXTFILE_DIR}/coachdb.prom")
    assert prom.mode == 0o644 and prom.user == "root", (oct(prom.mode), prom.user)
    # no temporary file left behind by the write-then-rename
    assert host.run(f"ls -A {TEXTFILE_DIR}").stdout.split() == ["coachdb.prom"]
