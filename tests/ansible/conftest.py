"""Helpers for running ansible/site.yml against this machine in check mode.

Bad input must stop the play before anything changes. Running in check mode makes that
safe on a developer's machine and still measurable: check mode reports every task that
*would* change something as changed, so a play that fails with ``changed=0`` in its recap
failed before any such task.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.playbook import PlayRun, run_playbook

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def load_file(path: Path, name: str) -> Any:
    """A Python file of a role (a plugin, a module) as a module, by path: a role's plugins and
    modules are not an importable package."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def role_filters(role: str, plugin: str) -> dict[str, Any]:
    """The filters of ``roles/<role>/filter_plugins/<plugin>.py``, loaded as Ansible would,
    for tests that call them."""
    path = REPO / "roles" / role / "filter_plugins" / f"{plugin}.py"
    return load_file(path, plugin).FilterModule().filters()


@pytest.fixture(scope="session")
def run_site(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Return a function that runs site.yml in check mode against localhost with extra vars."""
    if not Path("/usr/bin/python3").exists():
        pytest.skip("/usr/bin/python3 missing")
    work = tmp_path_factory.mktemp("site")
    inventory = work / "hosts.ini"
    inventory.write_text(
        "[postgresql]\n"
        "localhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3 "
        "ansible_become=false\n"
    )

    def run(extra_vars: dict[str, Any], playbook: Path | None = None) -> PlayRun:
        variables = {"coachdb_secrets_dir": str(work / "secrets"), **extra_vars}
        return run_playbook(
            playbook or REPO / "ansible" / "site.yml",
            variables,
            "--check",
            inventory=str(inventory),
            cwd=REPO / "ansible",
        )

    return run
