"""Bad input to site.yml fails before any change, with a message that says what to fix.

Each case runs the real playbook (check mode, against this machine) with one bad value and
asserts: the play fails, the message names the problem and the fix, and the recap shows no
task that would have changed anything.
"""

from __future__ import annotations

import re
import subprocess
from typing import Any

import pytest

CASES: dict[str, tuple[dict[str, Any], list[str]]] = {
    "major-13": (
        {"postgresql_version": 13},
        ["postgresql_version=13 is not supported", "Set postgresql_version to 14 or higher"],
    ),
    "major-not-a-number": (
        {"postgresql_version": "fourteen"},
        ["postgresql_install_version"],
    ),
    "port-70000": (
        {"postgresql_port": 70000},
        ["postgresql_port must be between 1 and 65535 (got 70000)"],
    ),
    "empty-database-name": (
        {"postgresql_database": ""},
        ["is not a valid name"],
    ),
    "malformed-user-name": (
        {"postgresql_app_user": "Bad-User!"},
        ["'Bad-User!' is not a valid name"],
    ),
    "weak-password": (
        {"postgresql_app_password": "short"},  # pragma: allowlist secret (test value)
        ["at least 16 are required"],
    ),
    "unsupported-os": (
        {"postgresql_install_supported_platforms": ["Ubuntu 24.04"]},
        ["Unsupported platform 'Debian", "This role supports Ubuntu 24.04"],
    ),
    "listen-address-list-in-one-string": (
        {"postgresql_listen_addresses": ["localhost, 10.0.0.1"]},
        ["postgresql_listen_addresses must be a non-empty list"],
    ),
    "bad-extra-san": (
        {"postgresql_tls_extra_sans": ["not a host name"]},
        ["postgresql_tls_extra_sans must list DNS names or IP addresses"],
    ),
    "hba-entry-not-cidr": (
        {"postgresql_hba_entries": [{"address": "everyone"}]},
        ["address must be CIDR"],
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_fails_before_any_change(run_site: Any, case: str) -> None:
    extra_vars, messages = CASES[case]
    result = run_site(extra_vars)
    assert result.rc != 0, f"{case}: the play did not fail\n{result.output[-3000:]}"
    for message in messages:
        assert message in result.output, f"{case}: {message!r} not in\n{result.output[-3000:]}"
    recap = result.recap()
    assert recap["failed"] == 1
    assert recap["changed"] == 0, f"{case}: a task would have changed something first"


def _apt_candidate(package: str) -> bool:
    out = subprocess.run(
        ["apt-cache", "policy", package], capture_output=True, text=True, check=False
    ).stdout
    return bool(re.search(r"Candidate:\s+[0-9]", out))


def _apt_module_usable() -> bool:
    """The apt module in check mode needs python3-apt for the system Python."""
    probe = subprocess.run(
        ["/usr/bin/python3", "-c", "import apt"], capture_output=True, check=False
    )
    return probe.returncode == 0


@pytest.mark.slow
def test_strict_version_refuses_the_fallback(run_site: Any) -> None:
    """With postgresql_version_strict, an unobtainable 14 is an error, not a warning."""
    if not _apt_module_usable():
        pytest.skip("python3-apt is not installed for /usr/bin/python3")
    if not _apt_candidate("postgresql"):
        pytest.skip("apt has no package lists here (run apt-get update)")
    if _apt_candidate("postgresql-14"):
        pytest.skip("this machine's apt can install PostgreSQL 14: nothing to fall back from")
    result = run_site(
        {
            "postgresql_version_strict": True,
            # A closed local port: unreachable at once, whatever the machine's network.
            "postgresql_install_pgdg_repo_url": "http://127.0.0.1:9/pgdg",
            "postgresql_install_pgdg_probe_timeout": 2,
            # this machine's package lists count as fresh: a stale-list refresh is not the
            # change this test is about
            "postgresql_install_apt_cache_valid_time": 10 * 365 * 86400,
        }
    )
    assert result.rc != 0
    assert "PostgreSQL 14 cannot be installed" in result.output
    assert "postgresql_version_strict=false" in result.output
    assert "127.0.0.1:9/pgdg" in result.output
    assert result.recap()["changed"] == 0, "a task would have changed something first"
