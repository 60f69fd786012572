"""Role postgresql_migrations run by ansible-playbook against a real PostgreSQL 14 cluster.

Check mode predicts without touching the database, a converge deploys, a second
converge and a later check report nothing, the migrator env file is 0600 and
works as documented, and bad input fails before any change, naming the variable.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.coachdb.conftest import MIGRATIONS, ModelServer
from tests.support.playbook import run_playbook, task_output

pytestmark = [pytest.mark.pg, pytest.mark.slow]

PLAYBOOK = Path(__file__).resolve().parent / "playbooks" / "migrations.yml"


def play(extra: dict[str, object], *args: str) -> tuple[int, int, str]:
    """Run the playbook without the caller's PG*/SQITCH_* settings; (rc, changed, output)."""
    run = run_playbook(PLAYBOOK, extra, *args, drop_env=("COACHDB_", "SQITCH_", "PG"))
    found = re.search(r"changed=(\d+)", run.output)
    return run.rc, int(found.group(1)) if found else -1, run.output


def _vars(srv: ModelServer, tmp_path: Path, **extra: object) -> dict[str, object]:
    return {
        "ansible_python_interpreter": sys.executable,
        "postgresql_migrations_project_dir": str(MIGRATIONS),
        "postgresql_migrations_port": srv.port,
        "postgresql_migrations_password": srv.migrator_password,
        "postgresql_migrations_ca_cert": str(srv.tls.ca),
        "postgresql_migrations_env_file": str(tmp_path / "migrator.env"),
        **extra,
    }


def _registry(srv: ModelServer) -> list[str]:
    with psycopg.connect(srv.cluster.dsn(dbname="elite_trading_coach_ai")) as conn:
        if conn.execute("SELECT to_regclass('sqitch.changes')").fetchone() == (None,):
            return []
        return [r[0] for r in conn.execute("SELECT change FROM sqitch.changes ORDER BY 1")]


def test_check_converge_idempotence_env_file(model_server: ModelServer, tmp_path: Path) -> None:
    extra = _vars(model_server, tmp_path)
    rc, changed, out = play(extra, "--check")
    assert rc == 0, out[-3000:]
    assert changed == 2, out[-3000:]  # the deploy and the env file, predicted
    assert "sqitch deploy would run" in out
    assert _registry(model_server) == [], "check mode touched nothing"
    assert not (tmp_path / "migrator.env").exists()

    # -vvv prints the shell command that starts each module, with the task's `environment`
    # as a VAR=value prefix (what the controller's process list shows while it runs): the
    # migrator's password must be in neither, nor in any result, for deploy and the env file.
    # The env file starts no process at all (coachdb_files' action plugin writes it in
    # Ansible's worker on the controller): no command line of its own.
    rc, changed, out = play(extra, "-vvv")
    assert rc == 0, out[-3000:]
    assert changed == 2, out[-3000:]  # the deploy and the env file
    assert len(_registry(model_server)) == 6
    assert "+ coaching_sessions @v1.0.0 .. ok" in out
    assert out.count("EXEC ") >= 1, "the deploy task's command line is printed"
    env_task = (
        "postgresql_migrations : Env file | Write the migrator's settings on the controller (0600)"
    )
    assert "EXEC " not in task_output(out, env_task), out[-3000:]
    assert model_server.migrator_password not in out
    # a run asks sqitch once: deploy's own answer says whether it deployed anything
    ran = r"Status \| Ask sqitch what is deployed[^\n]*\n(?:(?!TASK \[)[^\n]*\n)*?(\w+):"
    assert [m.group(1) for m in re.finditer(ran, out)] == ["skipping"], out[-3000:]

    # the re-run's deploy finds nothing to deploy: no change
    rc, changed, out = play(extra)
    assert (rc, changed) == (0, 0), out[-3000:]
    assert "Schema up to date (6 changes)" in out
    rc, changed, out = play(extra, "--check")
    assert (rc, changed) == (0, 0), out[-3000:]

    env_file = tmp_path / "migrator.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    text = env_file.read_text()
    assert model_server.migrator_password in text
    assert "SQITCH_TARGET=db:pg://trading_coach_migrator@localhost:" in text
    # as docs/migrations.md says: source it in a subshell, run sqitch from db/
    status = subprocess.run(
        ["sh", "-c", f"cd {MIGRATIONS} && set -a && . {env_file} && sqitch status"],
        capture_output=True, text=True, timeout=120,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)},
    )  # fmt: skip
    assert status.returncode == 0, status.stdout + status.stderr
    assert "Nothing to deploy (up-to-date)" in status.stdout

    # The re-run compares the env file on the controller instead of running the template
    # module: an edit or an opened mode must still be predicted, then repaired.
    for damage in ("edit", "mode", "delete"):
        if damage == "edit":
            env_file.write_text(text.replace("PGSSLMODE=verify-full", "PGSSLMODE=disable"))
        elif damage == "mode":
            env_file.chmod(0o644)
        else:
            env_file.unlink()
        rc, changed, out = play(extra, "--check")
        assert (rc, changed) == (0, 1), f"{damage}: " + out[-3000:]
        rc, changed, out = play(extra)
        assert (rc, changed) == (0, 1), f"{damage}: " + out[-3000:]
        assert env_file.read_text() == text, damage
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o600, damage


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"postgresql_migrations_password": ""}, "postgresql_migrations_password is empty"),
        (
            {"postgresql_migrations_user": "trading_coach_user"},
            "postgresql_migrations_user must be the migrator, not the app role",
        ),
        ({"postgresql_migrations_user": "postgres"}, "never the superuser postgres"),
        ({"postgresql_migrations_project_dir": "/nonexistent"}, "no sqitch.plan in /nonexistent"),
        ({"postgresql_migrations_lock_timeout": 0}, "lock_timeout must be at least 1"),
    ],
)
def test_bad_input_fails_before_any_change(
    model_server: ModelServer, tmp_path: Path, override: dict[str, object], message: str
) -> None:
    rc, _, out = play(_vars(model_server, tmp_path, **override))
    assert rc != 0
    assert message in out, out[-3000:]
    assert _registry(model_server) == []
    assert not (tmp_path / "migrator.env").exists()


def test_wrong_ca_fails_with_the_tls_error(model_server: ModelServer, tmp_path: Path) -> None:
    extra = _vars(
        model_server, tmp_path, postgresql_migrations_ca_cert=str(model_server.tls.other_ca)
    )
    rc, _, out = play(extra)
    assert rc != 0
    assert "certificate verify failed" in out, out[-3000:]
    assert _registry(model_server) == []
