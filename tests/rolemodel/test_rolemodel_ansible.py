"""Role postgresql_rolemodel run by ansible-playbook against a real PostgreSQL 14 cluster.

Proves the Ansible plumbing around the shared SQL: validation before any
change, check mode that predicts without touching anything, a converge that
reports changes, a second converge that reports none, SCRAM passwords that
work for a real login, files on the controller with the right modes, and the
template lookup rendering byte-for-byte what coachdb.rolemodel renders.
(The Molecule scenario runs the same role inside Debian 12/13 containers.)
"""

from __future__ import annotations

import re
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from coachdb import rolemodel
from tests.rolemodel.conftest import SETTINGS, public_create_by_db
from tests.support import playbook as playbook_runner
from tests.support.pgcluster import (
    EDGE_MAJORS,
    Cluster,
    available_bindirs,
    fetch_hint,
    running_cluster,
)
from tests.support.playbook import PlayRun

pytestmark = [pytest.mark.pg, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"
NOOP_APPLY = "noop_apply.sql.j2"
WEAK_PASSWORD = "Short-pw-1"  # pragma: allowlist secret (deliberately too short)
HAND_SET_PASSWORD = "changed-by-hand-0123456789"  # pragma: allowlist secret (test value)


def run_playbook(
    playbook: str, extra: dict[str, object], *args: str, env: dict[str, str] | None = None
) -> PlayRun:
    """One of this suite's playbooks, without the caller's COACHDB_* settings."""
    return playbook_runner.run_playbook(
        PLAYBOOKS / playbook, extra, *args, env=env, drop_env=("COACHDB_",)
    )


@dataclass
class RoleRuns:
    cluster: Cluster
    secrets_dir: Path
    app_password: str
    base: dict[str, object] = field(default_factory=dict)
    runs: dict[str, PlayRun] = field(default_factory=dict)
    states: dict[str, object] = field(default_factory=dict)


def _roles_present(cluster: Cluster) -> list[str]:
    with psycopg.connect(cluster.dsn()) as conn:
        rows = conn.execute(
            "SELECT rolname FROM pg_roles WHERE rolname LIKE 'trading_coach_%' ORDER BY 1"
        ).fetchall()
    return [r[0] for r in rows]


@contextmanager
def _fresh_cluster(
    tmp_path_factory: pytest.TempPathFactory, major: int
) -> Iterator[tuple[Cluster, Path, dict[str, object]]]:
    """A new cluster, an empty controller secrets directory and the role's base variables."""
    found = available_bindirs()
    if major not in found:
        pytest.skip(f"no PostgreSQL {major} server binaries ({fetch_hint(major)})")
    secrets_dir = tmp_path_factory.mktemp("controller") / "secrets"
    # every statement in the log with its parameters (log_min_duration_statement = 0), on top
    # of the DDL: the password query's verifiers travel in a SELECT's parameter, which
    # log_statement = 'ddl' alone would never log, so only this proves PGOPTIONS keeps them out
    logged = {**SETTINGS, "log_min_duration_statement": "0"}
    with running_cluster(found[major], settings=logged) as cluster:
        base: dict[str, object] = {
            "ansible_python_interpreter": sys.executable,  # has psycopg; postgres cannot run it
            "postgresql_rolemodel_become": False,  # the test cluster trusts its private socket
            "postgresql_rolemodel_login_unix_socket": str(cluster.sockdir),
            "postgresql_rolemodel_port": cluster.port,
            "postgresql_rolemodel_secrets_dir": str(secrets_dir),
            "postgresql_rolemodel_env_port": cluster.port,
            "postgresql_rolemodel_readonly_enabled": True,
        }
        yield cluster, secrets_dir, base


@pytest.fixture(scope="module")
def refusals(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RoleRuns]:
    """Bad input, then a check run, against a cluster the role never converged (oldest major)."""
    with _fresh_cluster(tmp_path_factory, min(EDGE_MAJORS)) as (cluster, secrets_dir, base):
        rr = RoleRuns(cluster, secrets_dir, app_password="")
        weak = {"COACHDB_APP_PASSWORD": WEAK_PASSWORD}
        rr.runs["weak"] = run_playbook("rolemodel.yml", base, env=weak)
        rr.runs["bad_name"] = run_playbook(
            "rolemodel.yml", {**base, "postgresql_rolemodel_app_user": "App-User; DROP"}
        )
        rr.states["roles_after_refusals"] = _roles_present(cluster)
        rr.runs["check"] = run_playbook("rolemodel.yml", base, "--check")
        # a supplied password on a cluster without the roles: the password query runs in
        # check mode for roles the (rolled-back) roles phase would create
        supplied = {"COACHDB_APP_PASSWORD": secrets.token_urlsafe(24)}
        rr.runs["check_supplied"] = run_playbook("rolemodel.yml", base, "--check", env=supplied)
        rr.states["roles_after_check"] = _roles_present(cluster)
        rr.states["secrets_after_check"] = (
            sorted(p.name for p in secrets_dir.glob("*")) if secrets_dir.exists() else []
        )
        yield rr


@pytest.fixture(scope="module", params=EDGE_MAJORS, ids=[f"pg{m}" for m in EDGE_MAJORS])
def role_converged(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[RoleRuns]:
    """Converge, then converge again, on a cluster of their own, on each end of the supported
    range (14 and 17). A test that needs only these two runs asks for this fixture alone (the
    mutation check runs it without role_runs' six further runs); role_runs goes on from here
    on the same cluster, so the whole suite still converges once per major."""
    with _fresh_cluster(tmp_path_factory, int(request.param)) as (cluster, secrets_dir, base):
        rr = RoleRuns(cluster, secrets_dir, app_password=secrets.token_urlsafe(24), base=base)
        env = {"COACHDB_APP_PASSWORD": rr.app_password}
        # -vvv prints every task's result (set_fact's facts too) and its module arguments (the
        # password query's verifiers): only no_log keeps secrets out
        rr.runs["converge"] = run_playbook("rolemodel.yml", base, "-vvv", env=env)
        assert rr.runs["converge"].rc == 0, rr.runs["converge"].output[-5000:]
        # before any test opens it: the role relies on the password lookup creating it private
        generated = secrets_dir / "trading_coach_migrator.password"
        rr.states["generated_mode"] = generated.stat().st_mode & 0o777
        rr.runs["again"] = run_playbook("rolemodel.yml", base, env=env)
        yield rr


@pytest.fixture(scope="module")
def role_runs(role_converged: RoleRuns) -> RoleRuns:
    """role_converged's cluster, then a check run, drift that must fail the play or be
    predicted and repaired, on each end of the supported range (14 and 17)."""
    rr = role_converged
    cluster, secrets_dir, base = rr.cluster, rr.secrets_dir, rr.base
    env = {"COACHDB_APP_PASSWORD": rr.app_password}
    rr.runs["check_again"] = run_playbook("rolemodel.yml", base, "--check", env=env)
    # Drift that an apply script which repairs nothing leaves behind: the play must fail.
    with psycopg.connect(cluster.dsn("elite_trading_coach_ai"), autocommit=True) as conn:
        conn.execute("GRANT CREATE ON SCHEMA public TO PUBLIC")
    noop = {**base, "_postgresql_rolemodel_apply_template": str(PLAYBOOKS / NOOP_APPLY)}
    rr.runs["unrepaired"] = run_playbook("rolemodel.yml", noop, env=env)
    rr.runs["repaired"] = run_playbook("rolemodel.yml", base, env=env)
    # Drift the probe (tasks/main.yml) must see although the role skips its per-phase
    # queries when nothing deviates: a role attribute (roles phase), a grant in another
    # database, a password changed by hand, a private file opened, the env file edited.
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute("ALTER ROLE trading_coach_user CREATEDB")
        conn.execute(f"ALTER ROLE trading_coach_migrator PASSWORD '{HAND_SET_PASSWORD}'")
    with psycopg.connect(cluster.dsn("template1"), autocommit=True) as conn:
        conn.execute("GRANT CREATE ON SCHEMA public TO PUBLIC")
    (secrets_dir / "trading_coach_migrator.password").chmod(0o644)
    env_file = secrets_dir / "app.env"
    rr.states["env_file"] = env_file.read_text()
    env_file.write_text(rr.states["env_file"].replace("DB_SSL=true", "DB_SSL=false"))
    rr.runs["drift_check"] = run_playbook("rolemodel.yml", base, "--check", env=env)
    connect = lambda db: psycopg.connect(cluster.dsn(db))  # noqa: E731
    rr.states["drift_after_check"] = rolemodel.drift_all(
        connect, rolemodel.RoleModel(readonly_enabled=True)
    )
    rr.runs["drift_fixed"] = run_playbook("rolemodel.yml", base, env=env)
    rr.runs["drift_again"] = run_playbook("rolemodel.yml", base, env=env)
    return rr


def test_weak_password_is_refused_before_any_change(refusals: RoleRuns) -> None:
    run = refusals.runs["weak"]
    assert run.rc != 0
    assert "COACHDB_APP_PASSWORD: 10 characters; at least 16 are required" in run.output
    assert run.changed == 0, run.output[-3000:]
    assert WEAK_PASSWORD not in run.output
    assert refusals.states["roles_after_refusals"] == []


def test_malformed_user_name_is_refused_before_any_change(refusals: RoleRuns) -> None:
    run = refusals.runs["bad_name"]
    assert run.rc != 0
    assert "app role 'App-User; DROP' is not a valid name" in run.output
    assert run.changed == 0, run.output[-3000:]
    assert refusals.states["roles_after_refusals"] == []


def test_check_mode_predicts_changes_and_makes_none(refusals: RoleRuns) -> None:
    run = refusals.runs["check"]
    assert run.rc == 0, run.output[-3000:]
    assert run.changed > 0
    assert refusals.states["roles_after_check"] == []
    assert not any(n.endswith(".password") for n in refusals.states["secrets_after_check"])


def _task_changed(run: PlayRun, task: str) -> bool:
    """Whether ``task`` (its name's start) reported changed in ``run``'s default output."""
    found = re.search(
        r"TASK \[postgresql_rolemodel : " + re.escape(task) + r"[^\n]*\n(.*?)(?=\nTASK \[|\Z)",
        run.output,
        re.S,
    )
    assert found, f"task {task!r} not in the output"
    return "changed: [" in found.group(1)


PASSWORD_TASK = "Passwords | Set the login roles' passwords"


def test_check_mode_predicts_the_password_of_a_role_not_created_yet(refusals: RoleRuns) -> None:
    """A first check run with a supplied password: the password query runs (rolled back)
    without failing on the roles its roles phase only predicted, and reports the change."""
    run = refusals.runs["check_supplied"]
    assert run.rc == 0, run.output[-3000:]
    assert _task_changed(run, PASSWORD_TASK), run.output[-3000:]
    assert refusals.states["roles_after_check"] == []


def test_converge_sets_every_password_and_the_rerun_none(role_converged: RoleRuns) -> None:
    """The one password query sets each login role's verifier (each logs in over TCP with
    SCRAM), and the re-run, finding every digest as wanted, sets none and changes nothing."""
    rr = role_converged
    passwords = {"trading_coach_user": rr.app_password} | {
        p.stem: p.read_text().strip() for p in rr.secrets_dir.glob("*.password")
    }
    assert sorted(passwords) == [
        "trading_coach_migrator",
        "trading_coach_readonly",
        "trading_coach_user",
    ]
    assert _task_changed(rr.runs["converge"], PASSWORD_TASK)
    for role, password in passwords.items():
        with psycopg.connect(
            host="127.0.0.1", port=rr.cluster.port, dbname="elite_trading_coach_ai",
            user=role, password=password, connect_timeout=10,
        ) as conn:  # fmt: skip
            assert conn.execute("SELECT session_user").fetchone() == (role,)
    again = rr.runs["again"]
    assert again.rc == 0 and again.changed == 0, again.output[-4000:]
    assert not _task_changed(again, PASSWORD_TASK)


def test_converge_changes_then_second_run_changes_nothing(role_runs: RoleRuns) -> None:
    first, second, check = (role_runs.runs[k] for k in ("converge", "again", "check_again"))
    assert first.rc == 0, first.output[-4000:]
    assert first.changed > 0
    assert second.rc == 0, second.output[-4000:]
    assert second.changed == 0, second.output[-4000:]
    assert check.rc == 0 and check.changed == 0, check.output[-4000:]
    connect = lambda db: psycopg.connect(role_runs.cluster.dsn(db))  # noqa: E731
    assert rolemodel.drift_all(connect, rolemodel.RoleModel(readonly_enabled=True)) == []
    assert not any(public_create_by_db(role_runs.cluster).values())


def test_drift_left_after_applying_fails_the_play(role_runs: RoleRuns) -> None:
    unrepaired, repaired = role_runs.runs["unrepaired"], role_runs.runs["repaired"]
    assert unrepaired.rc != 0
    flat = re.sub(r"\s+", " ", unrepaired.output)
    assert (
        "The role model still deviates in elite_trading_coach_ai after applying phase database"
        in flat
    )
    assert "PUBLIC holds [CREATE], expected []" in flat
    assert repaired.rc == 0 and repaired.changed > 0, repaired.output[-3000:]


def test_manual_drift_is_predicted_then_repaired(role_runs: RoleRuns) -> None:
    """Nothing the fast re-run skips may hide a change: each break is found and repaired."""
    check, fixed, again = (role_runs.runs[k] for k in ("drift_check", "drift_fixed", "drift_again"))
    assert check.rc == 0 and check.changed > 0, check.output[-4000:]
    found = {(d.phase, d.object_name) for d in role_runs.states["drift_after_check"]}  # type: ignore[attr-defined]
    assert ("roles", "trading_coach_user") in found, found
    assert ("other_database", "template1.public") in found, found
    assert fixed.rc == 0 and fixed.changed > 0, fixed.output[-4000:]
    assert again.rc == 0 and again.changed == 0, again.output[-4000:]
    connect = lambda db: psycopg.connect(role_runs.cluster.dsn(db))  # noqa: E731
    assert rolemodel.drift_all(connect, rolemodel.RoleModel(readonly_enabled=True)) == []
    migrator = (role_runs.secrets_dir / "trading_coach_migrator.password").read_text().strip()
    with psycopg.connect(
        host="127.0.0.1", port=role_runs.cluster.port, dbname="elite_trading_coach_ai",
        user="trading_coach_migrator", password=migrator, connect_timeout=10,
    ) as conn:  # fmt: skip
        assert conn.execute("SELECT session_user").fetchone() == ("trading_coach_migrator",)
    password_file = role_runs.secrets_dir / "trading_coach_migrator.password"
    assert password_file.stat().st_mode & 0o777 == 0o600
    assert (role_runs.secrets_dir / "app.env").read_text() == role_runs.states["env_file"]


def test_generated_password_file_is_private_from_the_first_run(role_converged: RoleRuns) -> None:
    """The role sets no mode on a file its run generates (the lookup creates it 0600)."""
    assert role_converged.states["generated_mode"] == 0o600


def test_run_says_where_the_passwords_are(role_converged: RoleRuns) -> None:
    out = role_converged.runs["converge"].output
    assert "trading_coach_user: environment variable COACHDB_APP_PASSWORD" in out
    assert f"trading_coach_migrator: generated into {role_converged.secrets_dir}" in out
    assert "app.env (mode 0600" in re.sub(r"\s+", " ", out)
    again = role_converged.runs["again"].output
    assert f"trading_coach_migrator: file {role_converged.secrets_dir}" in again


def _assert_no_password_or_verifier(rr: RoleRuns, runs: list[PlayRun]) -> None:
    """Neither a password nor a verifier in these runs' output, nor in the server log."""
    secrets_ = [rr.app_password] + [
        p.read_text().strip() for p in rr.secrets_dir.glob("*.password")
    ]
    assert len(secrets_) == 3
    output = "".join(run.output for run in runs)
    log = rr.cluster.log()
    assert "CREATE ROLE" in log  # log_statement = 'ddl' was on during the runs
    for secret in secrets_:
        assert secret not in output
        assert secret not in log
    # not even the verifier (PGOPTIONS in set_passwords.yml switches statement logging off)
    with psycopg.connect(rr.cluster.dsn()) as conn:
        verifiers = conn.execute(
            "SELECT rolpassword FROM pg_authid WHERE rolcanlogin AND rolname <> 'postgres'"
        ).fetchall()
    assert len(verifiers) == 3
    assert "SCRAM-SHA-256$" not in log
    for (verifier,) in verifiers:
        assert verifier.split("$", 2)[2] not in log
        assert verifier.split("$", 2)[2] not in output


def test_no_password_or_verifier_in_ansible_output_or_server_log(role_runs: RoleRuns) -> None:
    _assert_no_password_or_verifier(role_runs, list(role_runs.runs.values()))


def test_no_password_or_verifier_in_the_converge_runs(role_converged: RoleRuns) -> None:
    """The same claim over the converge (-vvv) and its re-run alone: the mutation check's catch
    of a missing no_log or PGOPTIONS without role_runs' six further runs (the test above
    covers every run)."""
    _assert_no_password_or_verifier(
        role_converged, [role_converged.runs[k] for k in ("converge", "again")]
    )


def test_controller_files_are_private(role_runs: RoleRuns) -> None:
    assert role_runs.secrets_dir.stat().st_mode & 0o777 == 0o700
    names = sorted(p.name for p in role_runs.secrets_dir.iterdir())
    assert names == [
        "app.env",
        "trading_coach_migrator.password",
        "trading_coach_readonly.password",
    ]
    for path in role_runs.secrets_dir.iterdir():
        assert path.stat().st_mode & 0o777 == 0o600, path


def test_env_file_logs_the_app_in_with_scram(role_runs: RoleRuns) -> None:
    env = dict(
        line.split("=", 1)
        for line in (role_runs.secrets_dir / "app.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    ca = str((role_runs.secrets_dir / "ca.crt").resolve())
    assert env["DB_PASSWORD"] == role_runs.app_password
    assert env["DB_SSL"] == "true"
    assert env["DB_SSL_ROOT_CERT"] == env["PGSSLROOTCERT"] == ca
    assert env["DATABASE_URL"] == (
        f"postgresql://trading_coach_user:{role_runs.app_password}@localhost:"
        f"{role_runs.cluster.port}/elite_trading_coach_ai?sslmode=verify-full&sslrootcert={ca}"
    )
    # the test cluster has no TLS: log in with the same credentials over TCP (scram-sha-256)
    with psycopg.connect(
        host="127.0.0.1", port=env["DB_PORT"], dbname=env["DB_NAME"], user=env["DB_USER"],
        password=env["DB_PASSWORD"], connect_timeout=10,
    ) as conn:  # fmt: skip
        assert conn.execute("SELECT session_user").fetchone() == ("trading_coach_user",)
    with psycopg.connect(role_runs.cluster.dsn()) as conn:
        hashes = conn.execute(
            "SELECT rolname, rolpassword FROM pg_authid WHERE rolcanlogin AND rolname <> 'postgres'"
        ).fetchall()
    assert len(hashes) == 3
    assert all(h.startswith("SCRAM-SHA-256$") for _, h in hashes)


def test_ansible_renders_the_same_sql_as_python(tmp_path: Path) -> None:
    model = rolemodel.RoleModel(readonly_enabled=True, schemas=("public", "trading"))
    phase_sets = [[p] for p in rolemodel.PHASES] + [list(rolemodel.DEFAULT_PHASES)]
    run = run_playbook(
        "render.yml",
        {
            "ansible_python_interpreter": sys.executable,
            "render_sql_dir": str(rolemodel.SQL_DIR),
            "render_model": model.template_vars(),
            "render_phases": phase_sets,
            "render_out": str(tmp_path),
        },
    )
    assert run.rc == 0, run.output[-3000:]
    for phases in phase_sets:
        suffix = "+".join(phases)
        ansible_apply = (tmp_path / f"role_model.sql.j2.{suffix}").read_text()
        ansible_drift = (tmp_path / f"role_model_drift.sql.j2.{suffix}").read_text()
        assert ansible_apply.strip() == rolemodel.render_apply_sql(model, phases).strip()
        assert ansible_drift.strip() == rolemodel.render_drift_sql(model, phases).strip()
