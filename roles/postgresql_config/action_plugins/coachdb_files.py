"""coachdb_files on the controller without a module run (issue 15: converge speed).

Why: a task that runs on the controller (the app's and the migrator's env files, the CA
certificate handed to the controller: ``delegate_to: localhost``; every task of a local
converge such as ``make dev``) still starts a Python process for the module, which unpacks it
and imports Ansible's module_utils again: ~0.2 s for a few hundred bytes written. Ansible's
worker process for the task is already a Python process on the controller, running as the
controller's user, so where the module would run there as that same user (the ``local``
connection, no become, not async) this plugin calls the module's own ``converge`` function
in the worker: the same code, the arguments validated against the module's own spec, the
same result. Anywhere else (a managed host, become, async) the module runs as always (the
``normal`` action, which this extends).

The module file is found next to this plugin's real path (roles/postgresql_config/library/);
the other roles link both, as they link the module.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

from ansible.plugins.action import ActionBase
from ansible.plugins.action.normal import ActionModule as NormalAction

_MODULE_PATH = Path(__file__).resolve().parent.parent / "library" / "coachdb_files.py"


def _load_module() -> ModuleType:
    """The module file as a Python module (its functions; main() does not run)."""
    spec = importlib.util.spec_from_file_location("coachdb_files_module", _MODULE_PATH)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {_MODULE_PATH}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def runs_in_worker(transport: str, become: bool, async_val: int) -> bool:
    """Whether the module would run on the controller as the worker's own user."""
    return transport == "local" and not become and not async_val


class ActionModule(NormalAction):
    """The ``normal`` action, with the controller-side case done in this process."""

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        if not runs_in_worker(
            self._connection.transport, bool(self._play_context.become), self._task.async_val
        ):
            return super().run(tmp, task_vars)
        result = ActionBase.run(self, tmp, task_vars)
        module = _load_module()
        # raises AnsibleActionFail (the module's own message) on bad input, before any write
        _, args = self.validate_argument_spec(argument_spec=module.ARGUMENT_SPEC)
        result.update(
            module.converge(
                args["directories"],
                args["files"],
                check_mode=bool(self._task.check_mode),
                diff=bool(self._task.diff),
            )
        )
        return result
