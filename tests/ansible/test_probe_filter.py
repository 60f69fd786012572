"""The shared read-only probe (filter_plugins/coachdb_probe.py) says "differs" exactly when a
module would change something: a wrong answer either skips a needed fix (a file edited by hand
stays wrong) or runs a module on every converge (the cost issue 15 removes).

Fast: the parser and comparisons on fixed lines, then the probe's own shell script run for
real (sh, stat, sha1sum, dpkg-query) against files in a temporary directory.
"""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import subprocess
from functools import partial
from pathlib import Path

import pytest

from tests.ansible.conftest import role_filters

F = role_filters("postgresql_config", "coachdb_probe")

CONTENT = "listen_addresses = 'localhost'\n"
SHA1 = hashlib.sha1(CONTENT.encode()).hexdigest()  # noqa: S324 (as sha1sum prints it)
LINES = [
    "postgres_exporter, version 0.11.1 (branch: debian/sid)",
    "/etc/pg|directory|postgres|postgres|700",
    "/etc/pg/postgresql.conf|regular file|postgres|postgres|640",
    f"{SHA1}  /etc/pg/postgresql.conf",
    "/etc/pg/empty|regular empty file|root|root|644",
    f"{hashlib.sha1(b'').hexdigest()}  /etc/pg/empty",  # noqa: S324
    "unit a.timer enabled active",
    "unit b.service  inactive",
    "unit c.service disabled active",
    "pkg dpkg ii  1.21.22",
    "pkg gone rc  ",
    "14  main    5432 online postgres /var/lib/postgresql/14/main /var/log/x.log",
]


@pytest.fixture(name="probe")
def _probe() -> dict:
    return F["coachdb_probe"](LINES)


def test_parser_reads_each_kind_of_line_and_ignores_others(probe: dict) -> None:
    assert probe["paths"]["/etc/pg/postgresql.conf"] == {
        "type": "regular file", "owner": "postgres", "group": "postgres", "mode": "640",
        "sha1": SHA1,
    }  # fmt: skip
    assert probe["paths"]["/etc/pg"] == {
        "type": "directory",
        "owner": "postgres",
        "group": "postgres",
        "mode": "700",
    }
    assert set(probe["paths"]) == {"/etc/pg", "/etc/pg/postgresql.conf", "/etc/pg/empty"}
    assert probe["units"] == {
        "a.timer": {"enabled": "enabled", "active": "active"},
        "b.service": {"enabled": "", "active": "inactive"},
        "c.service": {"enabled": "disabled", "active": "active"},
    }
    assert probe["packages"] == {
        "dpkg": {"status": "ii", "version": "1.21.22"},
        "gone": {"status": "rc", "version": ""},
    }


def test_file_differs_only_when_something_differs(probe: dict) -> None:
    differs = F["coachdb_probe_file_differs"]
    path = "/etc/pg/postgresql.conf"
    assert not differs(probe, path, "postgres", "postgres", "0640", CONTENT)
    assert not differs(probe, path, "postgres", "postgres", 0o640, CONTENT)
    assert differs(probe, path, "postgres", "postgres", "0640", CONTENT + "# by hand\n")
    assert differs(probe, path, "postgres", "postgres", "0600", CONTENT)
    assert differs(probe, path, "root", "postgres", "0640", CONTENT)
    assert differs(probe, path, "postgres", "root", "0640", CONTENT)
    assert differs(probe, "/etc/pg/missing", "postgres", "postgres", "0640", CONTENT)
    assert differs(probe, "/etc/pg", "postgres", "postgres", "0700", CONTENT)  # a directory
    assert not differs(probe, "/etc/pg/empty", "root", "root", "0644", "")


def test_dir_differs_only_when_something_differs(probe: dict) -> None:
    differs = F["coachdb_probe_dir_differs"]
    assert not differs(probe, "/etc/pg", "postgres", "postgres", "0700")
    assert not differs(probe, "/etc/pg", "postgres", "postgres", "700")
    assert differs(probe, "/etc/pg", "postgres", "postgres", "0750")
    assert differs(probe, "/etc/pg", "root", "postgres", "0700")
    assert differs(probe, "/etc/pg/postgresql.conf", "postgres", "postgres", "0640")  # a file
    assert differs(probe, "/nowhere", "root", "root", "0755")


def test_unit_differs_unless_enabled_and_active_as_asked(probe: dict) -> None:
    differs = F["coachdb_probe_unit_differs"]
    assert not differs(probe, "a.timer")
    assert differs(probe, "b.service")
    assert differs(probe, "c.service")
    assert not differs(probe, "c.service", enabled=False)
    assert differs(probe, "a.timer", enabled=False)
    assert differs(probe, "a.timer", active=False)
    assert differs(probe, "no.service")  # no systemd, or never seen: the module runs


def test_packages_missing_unless_installed(probe: dict) -> None:
    missing = F["coachdb_probe_packages_missing"]
    assert missing(probe, ["dpkg"]) == []
    assert missing(probe, ["dpkg", "gone", "never"]) == ["gone", "never"]


def test_latest_is_the_rerun_after_apt_only_when_it_ran() -> None:
    latest = F["coachdb_probe_latest"]
    first = {"stdout_lines": ["pkg pgbackrest un  "], "stdout": "pkg pgbackrest un  "}
    again = {"stdout_lines": ["pkg pgbackrest ii 2.45"], "stdout": "pkg pgbackrest ii 2.45"}
    assert latest(first, again) is again
    assert latest(first, None) is first  # the re-run's task never ran (undefined)
    assert latest(first, {"skipped": True, "changed": False}) is first  # apt installed nothing


def test_the_probe_script_reports_real_files_and_packages(tmp_path: Path) -> None:
    """The shell loop itself: what it prints for real paths parses into what they are."""
    conf = tmp_path / "a.conf"
    conf.write_text(CONTENT)
    conf.chmod(0o640)
    argv = F["coachdb_probe_argv"](
        [str(tmp_path), str(conf), str(tmp_path / "missing"), "pkg:dpkg", "pkg:no-such-pkg"],
        after="exit 3",
    )
    run = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert run.returncode == 3  # the command's status is that of `after`
    probe = F["coachdb_probe"](run.stdout.splitlines())
    user = pwd.getpwuid(os.geteuid()).pw_name
    group = grp.getgrgid(os.getegid()).gr_name
    mode = f"{tmp_path.stat().st_mode & 0o7777:o}"
    assert not F["coachdb_probe_dir_differs"](probe, str(tmp_path), user, group, mode)
    assert not F["coachdb_probe_file_differs"](probe, str(conf), user, group, "0640", CONTENT)
    conf.write_text(CONTENT + "# edited by hand\n")
    again = F["coachdb_probe"](
        subprocess.run(argv, capture_output=True, text=True).stdout.splitlines()
    )
    assert F["coachdb_probe_file_differs"](again, str(conf), user, group, "0640", CONTENT)
    assert str(tmp_path / "missing") not in probe["paths"]
    assert F["coachdb_probe_packages_missing"](probe, ["dpkg", "no-such-pkg"]) == ["no-such-pkg"]


def test_before_may_use_arg0_and_set_without_losing_the_targets(tmp_path: Path) -> None:
    """postgresql_install's probe reads the major from $0 and runs `set --` in a subshell."""
    argv = F["coachdb_probe_argv"](
        [str(tmp_path)], before='(set -- x; echo "$1"); echo "major $0";', arg0=17
    )
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[:2] == ["x", "major 17"]
    assert str(tmp_path) in F["coachdb_probe"](out)["paths"]


def test_files_differing_returns_exactly_the_entries_the_module_would_change(probe: dict) -> None:
    files = [
        {"path": "/etc/pg/postgresql.conf", "content": CONTENT,
         "owner": "postgres", "group": "postgres", "mode": "0640"},
        {"path": "/etc/pg/postgresql.conf", "content": CONTENT,
         "owner": "postgres", "group": "postgres", "mode": "0644"},
        {"path": "/etc/pg/empty", "content": "now with text\n"},
        {"path": "/nowhere/new.conf", "content": CONTENT},
    ]  # fmt: skip
    assert F["coachdb_probe_files_differing"](probe, files) == files[1:]


FAKE_SYSTEMCTL = """#!/bin/sh
# A stand-in for systemctl keeping each unit's state in $STATE/<unit>.{enabled,active}.
cmd=$1; shift
[ "$1" = --now ] && { now=1; shift; }
for u; do
  case $cmd in
    is-enabled) cat "$STATE/$u.enabled" 2>/dev/null || echo disabled;;
    is-active) cat "$STATE/$u.active" 2>/dev/null || echo inactive;;
    enable) echo enabled > "$STATE/$u.enabled"; [ -n "$now" ] && echo active > "$STATE/$u.active";;
    disable) echo disabled > "$STATE/$u.enabled";;
    start) echo active > "$STATE/$u.active";;
  esac
done
[ "$cmd" = daemon-reload ] && echo reloaded >> "$STATE/daemon-reload"
exit 0
"""


def _fake_systemctl(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """The environment that puts FAKE_SYSTEMCTL first on PATH, and its state directory."""
    bindir, state = tmp_path / "bin", tmp_path / "state"
    bindir.mkdir()
    state.mkdir()
    (bindir / "systemctl").write_text(FAKE_SYSTEMCTL)
    (bindir / "systemctl").chmod(0o755)
    return {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "STATE": str(state)}, state


def _stdout_lines(argv: list[str], env: dict[str, str]) -> list[str]:
    """Run a filter's argv against the fake systemctl; its stdout lines."""
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


def test_enable_now_says_changed_only_when_a_unit_state_changed(tmp_path: Path) -> None:
    env, state = _fake_systemctl(tmp_path)
    argv = F["coachdb_enable_now_argv"](["a.timer", "b.service"])
    run = partial(_stdout_lines, argv, env)

    # a started but disabled unit (a handler started it) is still enabled: changed
    (state / "b.service.active").write_text("active\n")
    assert "changed" in run()
    assert (state / "a.timer.active").read_text() == "active\n"
    # both enabled and active already (e.g. the handler did it all): not changed
    assert "changed" not in run()


def test_start_disabled_leaves_the_unit_off_at_boot_and_running(tmp_path: Path) -> None:
    """enabled=False (postgresql_cluster_start_on_boot false): disabled, then started."""
    env, state = _fake_systemctl(tmp_path)
    argv = F["coachdb_enable_now_argv"](["p.service"], enabled=False)
    run = partial(_stdout_lines, argv, env)

    # enabled and stopped: disabled and started, a change
    (state / "p.service.enabled").write_text("enabled\n")
    assert "changed" in run()
    assert (state / "p.service.enabled").read_text() == "disabled\n"
    assert (state / "p.service.active").read_text() == "active\n"
    # already disabled and running: no change
    assert "changed" not in run()


def test_enable_now_leaves_the_reload_to_systemctl_enable(tmp_path: Path) -> None:
    """No separate daemon-reload (`systemctl enable` and `disable` reload systemd themselves,
    see the filter) and none switched off: neither script passes --no-reload."""
    env, state = _fake_systemctl(tmp_path)
    for enabled in (True, False):
        argv = F["coachdb_enable_now_argv"](["c.timer"], enabled=enabled)
        assert "--no-reload" not in argv[2] and "daemon-reload" not in argv[2]
        subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    assert not (state / "daemon-reload").exists()
