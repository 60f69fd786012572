"""Run ``ansible-playbook`` from a test: the one runner the suites share.

Why one: every suite needs the same details right, and they drifted when copied: the
repository's ansible.cfg and roles, the venv's ``ansible-playbook`` next to the test
interpreter, no colour (``make`` exports ANSIBLE_FORCE_COLOR=1, whose escape codes split
the messages tests match), extra variables as one JSON document (types kept), a hang bound,
and the PLAY RECAP counters (``changed=0`` is how a refusal proves it touched nothing).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"


@dataclass
class PlayRun:
    """Outcome of one ansible-playbook run (stdout and stderr together)."""

    rc: int
    output: str

    def recap(self, host: str | None = None) -> dict[str, int]:
        """PLAY RECAP counters (ok, changed, failed, ...) of ``host`` (default: the first)."""
        name = re.escape(host) if host else r"\S+"
        match = re.search(rf"^{name}\s+:\s+(ok=.*)$", self.output, re.MULTILINE)
        assert match, f"no PLAY RECAP line in the output:\n{self.output[-3000:]}"
        return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(1))}

    @property
    def changed(self) -> int:
        """``changed=`` of the (first) recap line."""
        return self.recap()["changed"]


def task_output(output: str, task: str) -> str:
    """What a run printed for one task (``task``: its full name, as in ``TASK [...]``), from its
    header to the next task's or the recap; fails when the task is not in ``output``."""
    match = re.search(rf"TASK \[{re.escape(task)}\].*?(?=TASK \[|PLAY RECAP)", output, re.S)
    assert match, f"no task {task!r} in the output:\n{output[-3000:]}"
    return match.group(0)


def run_playbook(
    playbook: Path | str,
    extra_vars: Mapping[str, object] | None = None,
    *args: str,
    inventory: str = "localhost,",
    env: Mapping[str, str] | None = None,
    drop_env: Iterable[str] = (),
    cwd: Path = REPO,
    timeout: float = 600,
) -> PlayRun:
    """Run ``playbook`` with the repository's configuration; never raises on a failed play.

    ``drop_env``: prefixes of environment variables the play must not inherit (e.g. the
    caller's ``PG*`` or ``COACHDB_*`` settings); ``env`` is applied last.
    """
    prefixes = tuple(drop_env)
    environ = {k: v for k, v in os.environ.items() if not (prefixes and k.startswith(prefixes))}
    environ.update(
        ANSIBLE_CONFIG=str(REPO / "ansible" / "ansible.cfg"),
        ANSIBLE_ROLES_PATH=str(REPO / "roles"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        PATH=f"{ANSIBLE_PLAYBOOK.parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    environ.update(env or {})
    command = [str(ANSIBLE_PLAYBOOK), "-i", inventory]
    if extra_vars:
        command += ["-e", json.dumps(dict(extra_vars))]
    command += [*args, str(playbook)]
    proc = subprocess.run(
        command, cwd=cwd, env=environ, capture_output=True, text=True, timeout=timeout
    )
    return PlayRun(proc.returncode, proc.stdout + proc.stderr)


# The stdout callback of run_hosts(), also named as the only other callback (Ansible drops the
# duplicate): ansible.cfg's profile_tasks would print its summary into the JSON document.
JSON_CALLBACK = "ansible.posix.json"


@dataclass
class HostRun:
    """One inventory host of a run_hosts() run: its own results and recap only."""

    text: str  # every string of every result of this host (messages, warnings)
    failure: str  # the strings of its failed (or unreachable) results only
    stats: dict[str, int]  # the recap: ok, changed, failures, unreachable, skipped, ...
    tasks: dict[str, list[dict[str, object]]]  # task name -> this host's results under it

    def show(self) -> str:
        """Enough of the host's outcome for an assertion message."""
        return f"recap {self.stats}\n{self.text[-3000:]}"


def assert_reported_in_one_failure(output: str, expected: Iterable[str]) -> None:
    """Every expected message is in ``output`` (whitespace-normalised), in one failed task.

    For a role's preflight that names every wrong input at once: a message missing, or the
    messages spread over several failures, fails the caller's test.
    """
    missing = [e for e in expected if e not in output]
    assert not missing, f"not reported: {missing}\n{output[-3000:]}"
    assert output.count("fatal: [localhost]") == 1, output[-3000:]


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def per_host(output: str) -> dict[str, HostRun]:
    """Split the JSON callback's document (stdout, before stderr) into one HostRun per host."""
    start = output.find("{")
    assert start >= 0, f"no JSON from the callback:\n{output[-3000:]}"
    document, _ = json.JSONDecoder().raw_decode(output[start:])
    texts: dict[str, list[str]] = {}
    failures: dict[str, list[str]] = {}
    tasks: dict[str, dict[str, list[dict[str, object]]]] = {}
    for play in document["plays"]:
        for task in play["tasks"]:
            for host, result in task["hosts"].items():
                strings = list(_strings(result))
                texts.setdefault(host, []).extend(strings)
                if result.get("failed") or result.get("unreachable"):
                    failures.setdefault(host, []).extend(strings)
                tasks.setdefault(host, {}).setdefault(task["task"]["name"], []).append(result)
    return {
        host: HostRun(
            "\n".join(texts.get(host, [])),
            "\n".join(failures.get(host, [])),
            stats,
            tasks.get(host, {}),
        )
        for host, stats in document["stats"].items()
    }


def selected_tests(items: Iterable[object], module: str) -> Iterator[tuple[str, dict[str, object]]]:
    """(test function name, parameters) of each selected test of ``module`` (pytest's items).

    Why: the cases of a run_hosts() run each read only their own host, so a run for some of
    them (the mutation check selects one) takes only their hosts; the modules map these names
    and parameters to hosts.
    """
    for item in items:
        name = getattr(item, "originalname", None)
        if name is None or getattr(getattr(item, "module", None), "__name__", None) != module:
            continue
        callspec = getattr(item, "callspec", None)
        yield name, dict(callspec.params) if callspec is not None else {}


def run_hosts(
    playbook: Path | str,
    hosts: Mapping[str, Mapping[str, object]],
    inventory: Path,
    *args: str,
    extra_vars: Mapping[str, object] | None = None,
    group: str = "postgresql",
    cwd: Path = REPO,
) -> dict[str, HostRun]:
    """Run ``playbook`` once with one local host per case (its variables: host variables).

    Why: a playbook run costs seconds of start-up (parsing, roles, argument specs) whatever it
    does; cases that differ only in their variables can share one run, each read from its own
    host's results (hosts fail independently unless a task uses run_once/any_errors_fatal).
    The inventory (JSON, which is YAML) is written to ``inventory``; the hosts are in ``group``.
    """
    local = {
        "ansible_connection": "local",
        "ansible_python_interpreter": "/usr/bin/python3",
        "ansible_become": False,
    }
    members = {name: {**local, **variables} for name, variables in hosts.items()}
    inventory.write_text(json.dumps({"all": {"children": {group: {"hosts": members}}}}))
    run = run_playbook(
        playbook,
        extra_vars,
        "--forks",
        str(max(1, min(len(hosts), 10))),
        *args,
        inventory=str(inventory),
        cwd=cwd,
        env={"ANSIBLE_STDOUT_CALLBACK": JSON_CALLBACK, "ANSIBLE_CALLBACKS_ENABLED": JSON_CALLBACK},
    )
    found = per_host(run.output)
    missing = set(hosts) - set(found)
    assert not missing, f"no recap for {sorted(missing)}:\n{run.output[-3000:]}"
    return found
