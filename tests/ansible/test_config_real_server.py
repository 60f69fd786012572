"""The rendered postgresql.conf and pg_hba.conf work on real PostgreSQL 14, 15 and 17.

The Molecule scenarios run the distributions' majors (15, 17); production runs 14. Here the
role's templates are rendered by Ansible and a throwaway cluster of each available major is
restarted on them: it must start, apply every setting, refuse plaintext and socket logins
that are not peer, and admit TLS + SCRAM with verify-full.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.pgcluster import available_bindirs, fetch_hint, running_cluster
from tests.support.playbook import run_playbook

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = Path(__file__).parent / "playbooks" / "render_config.yml"
PASSWORD = "test-only-superuser-password-1"  # pragma: allowlist secret (test value)
MAJORS = (14, 15, 17)


def _make_certificate(directory: Path) -> tuple[Path, Path]:
    """Self-signed ECDSA certificate for localhost/127.0.0.1 (its own CA), key owned by postgres."""
    cert, key = directory / "server.crt", directory / "server.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-subj", "/CN=localhost", "-days", "2",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    entry = pwd.getpwnam("postgres")
    for path in (cert, key):
        os.chown(path, entry.pw_uid, entry.pw_gid)
    key.chmod(0o600)
    return cert, key


def _render(dest: Path, extra_vars: dict[str, Any]) -> str:
    run = run_playbook(PLAYBOOK, {"ansible_python_interpreter": sys.executable, **extra_vars})
    assert run.rc == 0, run.output[-5000:]
    return run.output


# A guarded setting named in the waiver list is applied, and the run says so (issue 16).
WAIVER = {
    "postgresql_config_extra_settings": {"fsync": "off"},
    "postgresql_config_unsafe_settings_allowed": ["fsync"],
}
WAIVER_WARNING = (
    "WARNING: postgresql_config_extra_settings overrides guarded setting fsync (committed data "
    "survives a crash no longer holds), waived by postgresql_config_unsafe_settings_allowed"
)


@pytest.mark.pg
@pytest.mark.slow
@pytest.mark.parametrize(
    ("major", "waived"),
    [*((m, False) for m in MAJORS), (MAJORS[-1], True)],
    ids=[*(f"{m}-profile" for m in MAJORS), f"{MAJORS[-1]}-fsync-waived"],
)
def test_rendered_configuration_on_real_server(major: int, waived: bool, tmp_path: Path) -> None:
    bindir = available_bindirs().get(major)
    if bindir is None:
        pytest.skip(f"no PostgreSQL {major} server binaries here ({fetch_hint(major)})")
    if os.geteuid() != 0 or not Path("/var/run/postgresql").is_dir():
        pytest.skip("needs root and /var/run/postgresql (Debian's postgresql-common)")
    with running_cluster(bindir) as cluster:
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            conn.execute(f"ALTER ROLE postgres PASSWORD '{PASSWORD}'")
            row = conn.execute(
                "SELECT enumvals FROM pg_settings WHERE name = 'wal_compression'"
            ).fetchone()
        # The profile's lz4 (profile.wal_settings, 15+) needs a server built with lz4, as
        # Debian's and PGDG's are (the 15 here is Debian's); the npm 17 build is not, so there
        # the rendered file must take PostgreSQL's own value from the extra settings.
        has_lz4 = row is not None and "lz4" in (row[0] or [])
        if major == 15:
            assert has_lz4, "Debian's PostgreSQL 15 was built without lz4"
        no_lz4 = {} if has_lz4 or major < 15 else {"wal_compression": "off"}
        tls = cluster.datadir.parent / "tls"
        tls.mkdir()
        cert, key = _make_certificate(tls)
        logdir = cluster.datadir.parent / "log"
        render = tmp_path / "render"
        render.mkdir()
        output = _render(
            render,
            {
                "render_dest": str(render),
                "postgresql_config_version": major,
                "postgresql_config_cluster_name": f"pytest{cluster.port}",
                "postgresql_config_confdir": str(cluster.datadir),
                "postgresql_config_datadir": str(cluster.datadir),
                "postgresql_config_log_directory": str(logdir),
                "postgresql_config_ssl_cert_file": str(cert),
                "postgresql_config_ssl_key_file": str(key),
                "postgresql_config_port": cluster.port,
                "postgresql_config_listen_addresses": ["127.0.0.1"],
                "postgresql_config_memory_mb": 1024,
                "postgresql_config_cpus": 2,
                **(WAIVER if waived else {}),
                "postgresql_config_extra_settings": {
                    **(WAIVER["postgresql_config_extra_settings"] if waived else {}),
                    **no_lz4,
                },
            },
        )
        # The callback wraps long messages: compare with whitespace collapsed.
        assert (WAIVER_WARNING in " ".join(output.split())) == waived, output[-3000:]
        entry = pwd.getpwnam("postgres")
        for name in ("postgresql.conf", "pg_hba.conf"):
            target = cluster.datadir / name
            shutil.copyfile(render / name, target)
            os.chown(target, entry.pw_uid, entry.pw_gid)
        try:
            cluster.restart()
        except subprocess.CalledProcessError as exc:
            log = cluster.log()[-3000:]
            pytest.fail(
                f"PostgreSQL {major} refused the rendered configuration:\n{exc.stderr}\n{log}"
            )

        tls_login = {
            "host": "localhost",
            "port": cluster.port,
            "dbname": "postgres",
            "user": "postgres",
            "password": PASSWORD,
            "sslmode": "verify-full",
            "sslrootcert": str(cert),
            "connect_timeout": 10,
        }
        with psycopg.connect(**tls_login) as conn:

            def show(name: str) -> str:
                row = conn.execute(f"SHOW {name}").fetchone()
                assert row is not None
                return str(row[0])

            assert int(show("server_version_num")) // 10000 == major
            assert show("ssl") == "on"
            assert show("password_encryption") == "scram-sha-256"
            assert show("ssl_min_protocol_version") == "TLSv1.2"
            assert show("shared_buffers") == "256MB"
            assert show("TimeZone") == "UTC"
            assert show("log_timezone") == "UTC"
            assert show("logging_collector") == "on"
            assert show("log_statement") == "ddl"
            assert show("fsync") == ("off" if waived else "on")
            expected = "off" if major < 15 or no_lz4 else "lz4"
            assert show("wal_compression") == expected
            # The test harness fixes the socket directory on the command line (-k).
            errors = conn.execute(
                "SELECT name, error FROM pg_file_settings WHERE error IS NOT NULL "
                "AND name <> 'unix_socket_directories'"
            ).fetchall()
            assert errors == [], f"settings PostgreSQL {major} did not apply: {errors}"
            version = conn.execute(
                "SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
            ).fetchone()
            assert version is not None and version[0] in {"TLSv1.2", "TLSv1.3"}

        # rejected by the explicit `hostnossl ... reject` rule, not merely unmatched
        with pytest.raises(
            psycopg.OperationalError, match=r"pg_hba\.conf rejects connection.*no encryption"
        ):
            psycopg.connect(**dict(tls_login, sslmode="disable"))
        # The unix socket is peer-only for postgres: this test runs as root, not postgres.
        with pytest.raises(psycopg.OperationalError, match=r"[Pp]eer authentication failed"):
            psycopg.connect(cluster.dsn(), connect_timeout=10)
        assert sorted(p.stat().st_mode & 0o777 for p in logdir.iterdir()) and all(
            p.stat().st_mode & 0o777 == 0o600 for p in logdir.iterdir()
        )
