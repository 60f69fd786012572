"""Providers survive the trip through Pulumi's state into the dynamic-provider host.

Pulumi serialises each provider with dill into the state; the host process that
later runs create/update/delete (also on `pulumi destroy`, maybe on another
machine) does not have the program's sys.path. Providers are therefore pickled
as plain references to their class in the installed ``coachdb_infra`` package:
no code to ``eval`` and no absolute path of this checkout in the state. The
test serialises exactly as Pulumi does and deserialises in a fresh interpreter
started elsewhere, with no PYTHONPATH, the way the host would.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
from coachdb_infra.railway import database, providers
from pulumi.dynamic.dynamic import serialize_provider

PROVIDERS = [
    providers.ProjectProvider,
    providers.EnvironmentProvider,
    providers.ServiceProvider,
    providers.VolumeProvider,
    providers.VariablesProvider,
    providers.TcpProxyProvider,
    providers.DeploymentProvider,
    database.RoleModelProvider,
]

LOADER = """
import base64, sys, dill
provider = dill.loads(base64.b64decode(sys.stdin.read()))
print(type(provider).__module__ + "." + type(provider).__name__)
print(callable(provider.create) and callable(provider.delete))
"""


REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("cls", PROVIDERS, ids=lambda c: c.__name__)
def test_provider_unpickles_in_a_bare_interpreter(cls, tmp_path: Path):
    blob = serialize_provider(cls())
    raw = base64.b64decode(blob)
    # a class reference: no code for eval, no path of this machine in the state
    assert b"eval" not in raw and b"builtins" not in raw
    assert str(REPO).encode() not in raw and b"sys.path" not in raw
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-c", LOADER],
        input=blob,
        capture_output=True,
        text=True,
        cwd=tmp_path,  # not the program directory
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [f"{cls.__module__}.{cls.__name__}", "True"]


def test_provider_keeps_no_token_after_use(api, fake):
    """A provider that cached its client or token would write it into the state."""
    provider = providers.ProjectProvider()
    provider.create({**api, "name": "pickled"})
    raw = base64.b64decode(serialize_provider(provider))
    assert api["token"].encode() not in raw
    assert len(raw) < 1024  # a reference to the class, not a copy of the module
