"""`coachdb --env-file`: the env files the roles and Pulumi write, read as written.

Their values are unquoted (docker --env-file keeps quotes), so the `&` in
DATABASE_URL defeats `. app.env` in a shell; the CLI reads them verbatim.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

from coachdb.cli import read_env_file


def _write_app_env(path: Path, server) -> None:
    env = server.env()
    url = (
        f"postgresql://{env['DB_USER']}:{quote(env['DB_PASSWORD'], safe='')}@localhost:"
        f"{env['DB_PORT']}/{env['DB_NAME']}?sslmode=verify-full"
        f"&sslrootcert={quote(env['DB_SSL_ROOT_CERT'], safe='/')}"
    )
    lines = ["# SECRET: written like the role's app.env", f"DATABASE_URL={url}", ""]
    path.write_text("\n".join(lines))


def test_reader_keeps_values_verbatim(tmp_path: Path) -> None:
    path = tmp_path / "app.env"
    path.write_text("# comment\n\nDATABASE_URL=postgresql://u@h/d?a=1&b=2\nDB_SSL=true\n")
    assert read_env_file(path) == {
        "DATABASE_URL": "postgresql://u@h/d?a=1&b=2",
        "DB_SSL": "true",
    }


def test_check_reads_the_app_env_file(tls_server, tmp_path: Path, run_cli) -> None:
    env_file = tmp_path / "app.env"
    _write_app_env(env_file, tls_server)
    result = run_cli("--env-file", str(env_file), "check", "--pool-threads", "0", env={})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verify-full" in result.stdout
    assert result.stdout.rstrip().endswith("result: all KPIs met")


def test_malformed_env_file_is_refused_naming_the_line(tmp_path: Path, run_cli) -> None:
    env_file = tmp_path / "app.env"
    env_file.write_text("DB_HOST=localhost\nthis is not an assignment\n")
    result = run_cli("--env-file", str(env_file), "config", env={})
    assert result.returncode == 3
    assert f"--env-file: {env_file}:2: not a KEY=VALUE line" in result.stderr


def test_missing_env_file_is_refused(tmp_path: Path, run_cli) -> None:
    result = run_cli("--env-file", str(tmp_path / "absent.env"), "config", env={})
    assert result.returncode == 3
    assert "--env-file: cannot read" in result.stderr


def test_backup_status_path_comes_from_the_env_file(tls_server, tmp_path: Path, run_cli) -> None:
    """COACHDB_BACKUP_STATUS in --env-file overrides the environment, like every other value."""
    status = tmp_path / "last-backup.json"
    status.write_text(json.dumps({"schema_version": 1, "status": "failed", "error": "from file"}))
    env_file = tmp_path / "app.env"
    _write_app_env(env_file, tls_server)
    env_file.write_text(env_file.read_text() + f"COACHDB_BACKUP_STATUS={status}\n")
    result = run_cli(
        "--env-file", str(env_file), "check", "--json", "--pool-threads", "0",
        env={"COACHDB_BACKUP_STATUS": str(tmp_path / "absent.json")},
    )  # fmt: skip
    report = json.loads(result.stdout)
    backup = report["checks"]["backup"]
    assert backup["path"] == str(status), backup
    assert "error: from file" in backup["summary"]
