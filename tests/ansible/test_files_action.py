"""The coachdb_files action plugin (roles/postgresql_config/action_plugins/coachdb_files.py) does
a task that runs on the controller in Ansible's worker process, without a module run, and
behaves there as the module does: writes, idempotence, check mode, a secret's diff, bad input.

The plugin's other side (a managed host: the module runs) is every coachdb_files task of the
Molecule scenarios; the shared ``converge`` is tested both ways in test_files_module.py.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.ansible.conftest import REPO, load_file
from tests.support.playbook import PlayRun, run_playbook, task_output

ACTION = REPO / "roles" / "postgresql_config" / "action_plugins" / "coachdb_files.py"
# A role that links the plugin and the module (as the roles find them): the link's plugin must
# find the module by its own real path.
LINKED = REPO / "roles" / "postgresql_rolemodel"
USER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name

PLAYBOOK = """
- name: Write controller-side files
  hosts: localhost
  gather_facts: false
  tasks:
    - name: A real module on the controller (its run shows in -vvv)
      ansible.builtin.stat:
        path: "{{ dir }}"
    - name: Files on the controller
      coachdb_files:
        directories:
          - {path: "{{ dir }}", owner: "{{ user }}", group: "{{ group }}", mode: "0700"}
        files:
          - path: "{{ dir }}/app.env"
            content: "{{ text }}"
            owner: "{{ owner | default(user) }}"
            group: "{{ group }}"
            mode: "0600"
            secret: true
      no_log: "{{ hide | default(true) }}"
"""


@pytest.fixture
def play(tmp_path: Path) -> Any:
    book = tmp_path / "play.yml"
    book.write_text(PLAYBOOK)
    target = tmp_path / "secrets"

    def run(text: str, *args: str, **extra: Any) -> PlayRun:
        variables = {
            "dir": str(target),
            "text": text,
            "user": USER,
            "group": GROUP,
            # this interpreter, not discovery's pick (a host's python may lack Ansible's needs)
            "ansible_python_interpreter": sys.executable,
            **extra,
        }
        return run_playbook(
            book,
            variables,
            "-c",
            "local",
            *args,
            inventory="localhost,",
            env={
                "ANSIBLE_ACTION_PLUGINS": str(LINKED / "action_plugins"),
                "ANSIBLE_LIBRARY": str(LINKED / "library"),
            },
        )

    run.target = target  # type: ignore[attr-defined]
    return run


def test_only_local_tasks_without_become_or_async_run_in_the_worker() -> None:
    runs_in_worker = load_file(ACTION, "coachdb_files_action").runs_in_worker
    assert runs_in_worker("local", False, 0)
    assert not runs_in_worker("community.docker.docker", False, 0)
    assert not runs_in_worker("ssh", False, 0)
    assert not runs_in_worker("local", True, 0)
    assert not runs_in_worker("local", False, 30)


def test_writes_in_the_worker_then_changes_nothing(play: Any) -> None:
    first = play("PGPASSWORD=one\n", "-vvv")
    assert first.rc == 0 and first.changed == 1, first.output[-3000:]
    # the stat module's run is a process the local connection starts; the files task starts none
    assert "EXEC" in task_output(
        first.output, "A real module on the controller (its run shows in -vvv)"
    )
    assert "EXEC" not in task_output(first.output, "Files on the controller"), first.output[-3000:]
    env = play.target / "app.env"
    assert env.read_text() == "PGPASSWORD=one\n"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert stat.S_IMODE(play.target.stat().st_mode) == 0o700
    again = play("PGPASSWORD=one\n")
    assert again.rc == 0 and again.changed == 0, again.output[-3000:]


def test_check_mode_predicts_and_writes_nothing_and_the_diff_hides_a_secret(play: Any) -> None:
    assert play("PGPASSWORD=one\n").rc == 0
    preview = play("PGPASSWORD=two\n", "--check", "--diff", hide=False)
    assert preview.rc == 0 and preview.changed == 1, preview.output[-3000:]
    # no_log off: only the plugin's `secret` keeps the texts out of the diff
    assert "PGPASSWORD" not in task_output(preview.output, "Files on the controller")
    assert (play.target / "app.env").read_text() == "PGPASSWORD=one\n"


def test_bad_input_fails_with_the_modules_message_before_any_write(play: Any) -> None:
    bad = play("PGPASSWORD=one\n", owner="no-such-user-coachdb", hide=False)
    assert bad.rc != 0 and bad.changed == 0
    assert "owner no-such-user-coachdb does not exist" in bad.output
    assert not play.target.exists()


def test_every_role_that_writes_with_it_links_the_module_and_the_plugin() -> None:
    """A role used on its own finds both next to its tasks (Ansible looks in the role's
    library/ and action_plugins/): each links postgresql_config's one copy."""
    module = REPO / "roles" / "postgresql_config" / "library" / "coachdb_files.py"
    users = sorted(
        role.name
        for role in (REPO / "roles").iterdir()
        if any("coachdb_files:" in t.read_text() for t in role.glob("tasks/*.yml"))
    )
    assert "postgresql_rolemodel" in users and "postgresql_tls" in users, users
    for name in users:
        role = REPO / "roles" / name
        assert (role / "library" / "coachdb_files.py").resolve() == module, name
        assert (role / "action_plugins" / "coachdb_files.py").resolve() == ACTION, name
