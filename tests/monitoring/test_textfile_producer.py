"""The textfile job's script on this machine: real certificates, real openssl, real pgBackRest.

Molecule (molecule/default/tests/test_textfile_metrics.py) proves the job end to end on a
converged host; these tests prove the script's contract quickly: the certificate's notAfter
as node_exporter will serve it, the names the alert rules read, and that a failure leaves
the previous file in place (the backup timestamp then ages until the alert fires) instead of
writing a partial or empty one.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

from coachdb.alerts import BACKUP_METRIC, CERT_METRIC
from tests.support.certs import self_signed_pem

SCRIPT = (
    Path(__file__).resolve().parents[2]
    / "roles"
    / "postgresql_monitoring"
    / "files"
    / "coachdb-textfile-metrics.py"
)
NOT_AFTER = dt.datetime(2031, 7, 4, 12, 30, 45, tzinfo=dt.UTC)


def _cert(path: Path) -> None:
    path.write_bytes(self_signed_pem("coachdb-test", NOT_AFTER - dt.timedelta(days=365), NOT_AFTER))


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, str(SCRIPT), "--backup-metric", BACKUP_METRIC]
    cmd += ["--cert-metric", CERT_METRIC, "--pgbackrest-user", "", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def test_cert_not_after_in_the_exposition_format(tmp_path: Path) -> None:
    cert, out = tmp_path / "server.crt", tmp_path / "coachdb.prom"
    _cert(cert)
    result = _run("--output", str(out), "--cert", str(cert))
    assert result.returncode == 0, result.stderr
    assert out.read_text() == (
        f"# HELP {CERT_METRIC} notAfter of the certificate PostgreSQL presents.\n"
        f"# TYPE {CERT_METRIC} gauge\n"
        f'{CERT_METRIC}{{path="{cert}"}} {int(NOT_AFTER.timestamp())}\n'
    )
    assert {p.name for p in tmp_path.iterdir()} == {"coachdb.prom", "server.crt"}


def test_failure_leaves_the_previous_file(tmp_path: Path) -> None:
    """pgBackRest cannot read the stanza: exit 1, old file untouched, no temporary left."""
    cert, out = tmp_path / "server.crt", tmp_path / "coachdb.prom"
    _cert(cert)
    out.write_text("previous\n")
    conf = tmp_path / "pgbackrest.conf"
    conf.write_text(f"[global]\nrepo1-path={tmp_path / 'repo'}\nlog-level-file=off\n")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--output", str(out), "--stanza", "missing",
         "--pgbackrest-user", "", "--backup-metric", BACKUP_METRIC, "--cert", str(cert),
         "--cert-metric", CERT_METRIC],
        capture_output=True, text=True, timeout=120, check=False,
        env={"PATH": "/usr/bin:/bin", "PGBACKREST_CONFIG": str(conf)},
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "left as it was" in result.stderr
    assert out.read_text() == "previous\n"
    assert {p.name for p in tmp_path.iterdir()} == {"coachdb.prom", "server.crt", "pgbackrest.conf"}


def test_unreadable_certificate_fails(tmp_path: Path) -> None:
    (tmp_path / "server.crt").write_text("not a certificate\n")
    result = _run(
        "--output", str(tmp_path / "coachdb.prom"), "--cert", str(tmp_path / "server.crt")
    )
    assert result.returncode == 1
    assert not (tmp_path / "coachdb.prom").exists()
