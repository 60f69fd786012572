"""``make bench-converge``: how long ``site.yml`` takes on a fresh systemd container.

Why: issue 15 sets its goals relative to a minimal peer role on the same kind of container
and connection (cold <= 1.2x and re-run <= 1.5x geerlingguy.postgresql doing one database
and one user). The same code converges 1.4x slower on one day than on the day before, so
this measures both sides back to back and prints the ratios (a benchmark, not a test: the
figures depend on the machine, so they are printed with the load average next to them, and
the task counts, which do not, are printed too).

One fresh Debian systemd container (the shared image of scripts/build-base-images.sh, the one
the Molecule scenarios use), reached with the docker connection, converged twice with the real
``ansible/site.yml`` and the same settings as molecule/default (TLS, role model, migrations,
backups), then previewed once in check mode (which must predict no change). Then the peer
(vendor/peers/geerlingguy.postgresql, playbook tests/support/bench_peer.yml) on a second
fresh container of the same image, with the same Ansible, settings and connection: cold
and re-run (``--no-peer`` skips it). For each run:
wall-clock seconds, tasks (ok/changed/skipped, from Ansible's JSON callback), module runs (a
loop's items each), round trips to the container (each ``docker exec`` the docker connection
makes: a module run with pipelining is one, a template or copy three; counted from its -vvv
lines), the controller's CPU seconds, handlers that restarted PostgreSQL, and the load
average before and after. Round trips, module runs and tasks do not depend on the load.
The cold runs are also broken down by role (seconds, tasks, module runs): where the time goes.
The containers and their generated secrets are removed at the end. ``--rounds N`` repeats
the whole sequence on fresh containers and prints each round's ratios and their median (one
round's figures can be 10 % off the next's on this kind of machine).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from secrets import token_urlsafe

REPO = Path(__file__).resolve().parents[2]
PORT = 5432
SITE = REPO / "ansible" / "site.yml"
PEER_PLAYBOOK = REPO / "tests" / "support" / "bench_peer.yml"
PEER_ROLES = REPO / "vendor" / "peers"
# Issue 15's goals: our time over the peer's, per run.
GOALS = {"cold": 1.2, "re-run": 1.5}
# Actions that run on the controller only; every other task that runs is a module execution
# on the host, what each costs ~0.3 s over the docker connection.
CONTROLLER_ACTIONS = {
    f"{prefix}{name}"
    for prefix in ("", "ansible.builtin.")
    for name in (
        "set_fact", "assert", "debug", "fail", "meta", "include_tasks", "include_role",
        "import_tasks", "validate_argument_spec",
    )
}  # fmt: skip


@dataclass
class Run:
    """Figures of one ``ansible-playbook site.yml`` run."""

    label: str
    seconds: float
    # user + sys CPU seconds of ansible-playbook and everything it ran on this machine
    cpu: float
    tasks: int
    modules: int
    round_trips: int
    ok: int
    changed: int
    skipped: int
    failed: int
    restarts: int
    load_before: str
    load_after: str
    # role (the "role : " prefix of a task name, "play" for the playbook's own tasks) ->
    # [seconds, tasks, module runs]: where the time goes, from each task's start and end
    by_role: dict[str, list[float]] = field(default_factory=dict)


# The docker connection's -vvv line for each `docker exec` it makes (a command, a put, a fetch).
_ROUND_TRIP = re.compile(r"^<[^>]*> (EXEC|PUT|FETCH) ", re.MULTILINE)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _docker(*args: str) -> str:
    return subprocess.run(
        ["docker", *args], check=True, capture_output=True, text=True, timeout=300
    ).stdout.strip()


def _start(name: str, image: str) -> int:
    """Start a systemd container like molecule/default's; return the published port."""
    subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
    _docker(
        "run", "-d", "--name", name, "--cgroupns", "host", "--cap-add", "SYS_ADMIN",
        "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/run", "--tmpfs", "/run/lock",
        "-p", f"127.0.0.1::{PORT}/tcp", image, "/lib/systemd/systemd",
    )  # fmt: skip
    for _ in range(60):
        state = subprocess.run(
            ["docker", "exec", name, "systemctl", "is-system-running"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        if state in {"running", "degraded"}:
            break
        time.sleep(0.5)
    mapping = _docker("port", name, f"{PORT}/tcp").splitlines()[0]
    return int(mapping.rsplit(":", 1)[1])


def _inventory(path: Path, name: str, port: int, secrets: Path) -> None:
    """The inventory molecule/default uses, written out for one container."""
    inventory = {
        "postgresql": {
            "hosts": {name: {"ansible_connection": "community.docker.docker"}},
            "vars": {
                "coachdb_secrets_dir": str(secrets),
                "postgresql_listen_addresses": [
                    "localhost",
                    "{{ ansible_facts['default_ipv4']['address'] }}",
                ],
                "postgresql_hba_entries": [{"address": "172.16.0.0/12"}],
                "postgresql_memory_mb": 1024,
                "coachdb_migrations_port": port,
            },
        }
    }
    path.write_text(json.dumps(inventory), encoding="utf-8")


def _converge(
    label: str,
    inventory: Path,
    log: Path,
    *args: str,
    trips: bool = False,
    playbook: Path = SITE,
    roles_path: Path | None = None,
) -> Run:
    env = dict(os.environ)
    if roles_path is not None:
        env["ANSIBLE_ROLES_PATH"] = str(roles_path)
        # The peer reads facts as top-level ansible_* variables (ansible_os_family, ...), which
        # ansible.cfg no longer injects (inject_facts_as_vars = false): turned back on for it.
        env["ANSIBLE_INJECT_FACT_VARS"] = "True"
    env.update(
        ANSIBLE_CONFIG=str(REPO / "ansible" / "ansible.cfg"),
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        # profile_tasks prints each task's time after the JSON document (kept in the log).
        ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        # With trips, -vvv below for the round-trip lines, on stderr: stdout stays the JSON
        # document. Off by default: printing them costs controller time, so seconds and CPU
        # compare with runs that did not count.
        ANSIBLE_VERBOSE_TO_STDERR="1",
    )
    load_before = _load()
    cpu_before = _children_cpu()
    start = time.monotonic()
    proc = subprocess.run(
        [
            str(Path(sys.executable).with_name("ansible-playbook")),
            "-i",
            str(inventory),
            str(playbook),
            *(["-vvv"] if trips else []),
            *args,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - start
    cpu = _children_cpu() - cpu_before
    log.write_text(proc.stdout + proc.stderr, encoding="utf-8")
    if proc.returncode != 0:
        raise SystemExit(f"bench: {label} run failed (rc={proc.returncode}); see {log}")
    report, _ = json.JSONDecoder().raw_decode(proc.stdout[proc.stdout.index("{\n") :])
    stats = next(iter(report["stats"].values()))
    tasks = modules = restarts = 0
    by_role: dict[str, list[float]] = {}
    for play in report["plays"]:
        for task in play["tasks"]:
            tasks += 1
            name = task["task"]["name"]
            owner = name.split(" : ", 1)[0] if " : " in name else "play"
            role = by_role.setdefault(owner, [0, 0, 0])
            role[0] += _task_seconds(task["task"]["duration"])
            role[1] += 1
            result = next(iter(task["hosts"].values()), {})
            if result.get("skipped"):
                continue
            if result.get("action") not in CONTROLLER_ACTIONS:
                items = result.get("results")
                runs = (
                    sum(1 for i in items if not i.get("skipped")) if isinstance(items, list) else 1
                )
                modules += runs
                role[2] += runs
            if task["task"]["name"].endswith("Restart PostgreSQL") and result.get("changed"):
                restarts += 1
    return Run(
        label=label,
        seconds=seconds,
        cpu=cpu,
        tasks=tasks,
        modules=modules,
        round_trips=len(_ROUND_TRIP.findall(proc.stderr)) if trips else -1,
        ok=stats["ok"],
        changed=stats["changed"],
        skipped=stats["skipped"],
        failed=stats["failures"] + stats["unreachable"],
        restarts=restarts,
        load_before=load_before,
        load_after=_load(),
        by_role=by_role,
    )


def _task_seconds(duration: dict[str, str]) -> float:
    """A task's wall time from the JSON callback's start and end stamps (0 if it has none)."""
    if "end" not in duration:
        return 0.0
    stamp = lambda key: datetime.fromisoformat(duration[key].replace("Z", "+00:00"))  # noqa: E731
    return (stamp("end") - stamp("start")).total_seconds()


def _breakdown(run: Run) -> list[str]:
    """Where one run's time goes, by role, slowest first."""
    lines = [f"{run.label} by role: seconds (sum of its tasks), tasks, module runs"]
    for role, (seconds, tasks, modules) in sorted(run.by_role.items(), key=lambda kv: -kv[1][0]):
        lines.append(f"  {role:<28} {seconds:>6.1f} {int(tasks):>6} {int(modules):>6}")
    return lines


def _peer_inventory(path: Path, name: str, password: Path) -> None:
    """The peer's inventory: the container alone, its user's password in an extra-vars file."""
    inventory = {"all": {"hosts": {name: {"ansible_connection": "community.docker.docker"}}}}
    path.write_text(json.dumps(inventory), encoding="utf-8")
    password.write_text(json.dumps({"bench_peer_password": token_urlsafe(24)}), encoding="utf-8")
    password.chmod(0o600)


def _pairs(runs: list[Run]) -> dict[str, tuple[Run, Run]]:
    """Ours and the peer's run of each goal's label (cold, re-run) that ``runs`` (one round)
    holds both of."""
    by_label = {r.label: r for r in runs}
    return {
        label: (by_label[label], by_label[f"peer {label}"])
        for label in GOALS
        if label in by_label and f"peer {label}" in by_label
    }


def _ratios(runs: list[Run], tag: str = "") -> list[str]:
    """Issue 15's comparison: each of our runs over the peer's run of the same label (one
    round; ``tag`` names the round in the text)."""
    lines = []
    for label, (ours, peer) in _pairs(runs).items():
        goal = GOALS[label]
        ratio = ours.seconds / peer.seconds
        verdict = "met" if ratio <= goal else "not met"
        lines.append(
            f"{label}{tag}: {ours.seconds:.1f} s / peer {peer.seconds:.1f} s = {ratio:.2f} "
            f"(goal <= {goal}: {verdict}); tasks {ours.tasks} / {peer.tasks}, "
            f"controller CPU {ours.cpu:.1f} / {peer.cpu:.1f} s"
        )
    return lines


def _median_ratios(rounds: list[list[Run]]) -> list[str]:
    """Over several rounds: the median of the per-round ratios (a round's two runs ran minutes
    apart, so their ratio is steadier than either figure; the median drops one noisy round)."""
    lines = []
    for label, goal in GOALS.items():
        pairs = [pair for one in rounds if (pair := _pairs(one).get(label))]
        if pairs:
            ratios = [ours.seconds / peer.seconds for ours, peer in pairs]
            median = statistics.median(ratios)
            verdict = "met" if median <= goal else "not met"
            each = ", ".join(f"{x:.2f}" for x in ratios)
            lines.append(
                f"{label}: median ratio {median:.2f} over {len(ratios)} rounds ({each}); "
                f"goal <= {goal}: {verdict}"
            )
    return lines


def _round(args: argparse.Namespace, logs: Path, k: int) -> list[Run]:
    """One round: ours cold, re-run and check, then the peer's cold and re-run, each on a fresh
    container (removed at the end unless --keep). ``k`` > 0 numbers the round's log files."""
    run_id = os.environ.get("COACHDB_RUN_ID", "local")
    name = f"coachdb-bench-converge-{run_id}"
    peer = f"coachdb-bench-peer-{run_id}"
    log = lambda label: logs / f"{label.replace(' ', '-')}{f'-{k}' if k else ''}.json"  # noqa: E731
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="coachdb-bench-") as tmp:
        try:
            port = _start(name, args.image)
            inventory = Path(tmp) / "inventory.json"
            _inventory(inventory, name, port, Path(tmp) / "secrets")
            for label in ("cold", "re-run"):
                runs.append(_converge(label, inventory, log(label), trips=args.trips))
            # Check mode on the converged host: what a preview costs, and it must predict nothing.
            runs.append(_converge("check", inventory, log("check"), "--check", trips=args.trips))
            if not args.no_peer:
                _start(peer, args.image)
                peer_inventory, password = Path(tmp) / "peer.json", Path(tmp) / "peer-vars.json"
                _peer_inventory(peer_inventory, peer, password)
                for label in ("cold", "re-run"):
                    runs.append(
                        _converge(
                            f"peer {label}",
                            peer_inventory,
                            log(f"peer {label}"),
                            "-e",
                            f"@{password}",
                            trips=args.trips,
                            playbook=PEER_PLAYBOOK,
                            roles_path=PEER_ROLES,
                        )
                    )
        finally:
            if not args.keep:
                for container in (name, peer):
                    subprocess.run(
                        ["docker", "rm", "-f", container], capture_output=True, check=False
                    )
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--image",
        required=True,
        help="systemd image to start (make passes the shared Debian 12 image)",
    )
    parser.add_argument("--keep", action="store_true", help="leave the containers running")
    parser.add_argument("--no-peer", action="store_true", help="skip the peer role's runs")
    parser.add_argument(
        "--trips",
        action="store_true",
        help="count docker exec calls (runs with -vvv, which adds controller time to every figure)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="repeat ours and the peer's runs this many times on fresh containers and print "
        "each round's ratios and their median (the figures swing with the machine's load)",
    )
    args = parser.parse_args(argv)
    logs = REPO / ".cache" / "bench-converge"
    logs.mkdir(parents=True, exist_ok=True)
    rounds: list[list[Run]] = []
    for k in range(1, max(args.rounds, 1) + 1):
        rounds.append(_round(args, logs, k if args.rounds > 1 else 0))
    runs = [r for one in rounds for r in one]
    # the table and the ratios name each round when there are several
    tags = [f" #{k}" if len(rounds) > 1 else "" for k in range(1, len(rounds) + 1)]
    print(f"bench-converge: site.yml on a fresh container of {args.image} ({os.cpu_count()} CPUs)")
    print(
        f"{'run':<15} {'seconds':>8} {'tasks':>6} {'on host':>8} {'trips':>6} {'cpu s':>6} "
        f"{'ok':>4} {'changed':>8} {'skipped':>8} {'restarts':>9}  load avg before -> after"
    )
    for one, tag in zip(rounds, tags, strict=True):
        for r in one:
            print(
                f"{r.label + tag:<15} {r.seconds:>8.1f} {r.tasks:>6} {r.modules:>8} "
                f"{r.round_trips if r.round_trips >= 0 else '-':>6} "
                f"{r.cpu:>6.1f} {r.ok:>4} {r.changed:>8} {r.skipped:>8} {r.restarts:>9}  "
                f"{r.load_before} -> {r.load_after}"
            )
    print(
        "tasks: every task listed; on host: module runs on the container (each loop item); "
        "trips: docker exec calls (--trips); cpu s: the controller's user+sys; peer: "
        "geerlingguy.postgresql 4.0.3 (vendor/peers/), one database and one user"
    )
    for one, tag in zip(rounds, tags, strict=True):
        for line in _ratios(one, tag):
            print(line)
    if len(rounds) > 1:
        for line in _median_ratios(rounds):
            print(line)
    for r in rounds[0]:
        if r.label in {"cold", "peer cold"}:
            print("\n".join(_breakdown(r)))
    print(f"logs (JSON callback): {logs}/")
    # every run after a cold one (re-run, check) must change nothing
    later = [r for r in runs if r.label in {"re-run", "check"}]
    return 0 if all(r.changed == 0 for r in later) else 1


if __name__ == "__main__":
    raise SystemExit(main())
