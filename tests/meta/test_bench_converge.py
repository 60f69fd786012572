"""make bench-converge's comparison with the vendored peer role (issue 15's goals)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.support import bench_converge as bench


def _run(label: str, seconds: float) -> bench.Run:
    return bench.Run(label, seconds, 1.0, 10, 5, -1, 10, 0, 0, 0, 0, "0", "0")


def test_ratios_compare_each_run_with_the_peers_run_of_the_same_kind() -> None:
    runs = [_run("cold", 60.0), _run("re-run", 16.0), _run("check", 15.0)]
    runs += [_run("peer cold", 40.0), _run("peer re-run", 10.0)]
    cold, rerun = bench._ratios(runs)
    assert cold.startswith("cold: 60.0 s / peer 40.0 s = 1.50 (goal <= 1.2: not met)")
    assert rerun.startswith("re-run: 16.0 s / peer 10.0 s = 1.60 (goal <= 1.5: not met)")
    met = bench._ratios([_run("cold", 48.0), _run("peer cold", 40.0)])
    assert met == [met[0]] and "= 1.20 (goal <= 1.2: met)" in met[0]
    # Without the peer's runs (--no-peer) there is nothing to compare.
    assert bench._ratios(runs[:3]) == []


def test_rounds_compare_within_each_round_and_report_the_median() -> None:
    """--rounds: a round's ratio uses its own peer runs (the tag only names the round in the
    text) and the summary is the median of the rounds' ratios (one noisy round does not
    decide)."""
    rounds = [
        [_run("cold", ours), _run("peer cold", peer)]
        for ours, peer in [(50.0, 40.0), (66.0, 40.0), (44.0, 40.0)]
    ]
    assert bench._ratios(rounds[1], " #2")[0].startswith("cold #2: 66.0 s / peer 40.0 s = 1.65")
    assert bench._ratios(rounds[0])[0].startswith("cold: 50.0 s / peer 40.0 s = 1.25")
    (cold,) = bench._median_ratios(rounds)
    assert cold == "cold: median ratio 1.25 over 3 rounds (1.25, 1.65, 1.10); goal <= 1.2: not met"


def test_peer_inventory_has_a_fresh_private_password_per_run(tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    bench._peer_inventory(tmp_path / "inv.json", "c1", first)
    bench._peer_inventory(tmp_path / "inv2.json", "c1", second)
    inventory = json.loads((tmp_path / "inv.json").read_text())
    assert inventory["all"]["hosts"] == {"c1": {"ansible_connection": "community.docker.docker"}}
    passwords = [json.loads(p.read_text())["bench_peer_password"] for p in (first, second)]
    assert passwords[0] != passwords[1] and min(map(len, passwords)) >= 32
    assert first.stat().st_mode & 0o777 == 0o600


def test_the_peer_is_vendored_with_its_licence_and_used_only_by_the_benchmark() -> None:
    role = bench.PEER_ROLES / "geerlingguy.postgresql"
    assert "MIT License" in (role / "LICENSE").read_text()
    assert (role / "tasks" / "main.yml").is_file()
    assert "4.0.3" in (bench.PEER_ROLES / "README.md").read_text()
    # Nothing the product runs loads it: only the benchmark's playbook names the role.
    users = subprocess.run(
        ["git", "grep", "-l", "geerlingguy.postgresql", "--", "roles", "ansible", "molecule"],
        cwd=bench.REPO,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    assert users == []
    assert "role: geerlingguy.postgresql" in bench.PEER_PLAYBOOK.read_text()
