"""The program: validate the configuration, pick the target, export the outputs.

Target hook: ``target: railway`` imports ``deploy_railway(settings)`` from the
package ``coachdb_infra.railway`` (its own keys are validated there with the
helpers of ``coachdb_infra.config``). Every ``deploy_*`` returns a mapping of
stack-output name to value; secrets must already be secret Outputs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping

import pulumi

from coachdb_infra.config import ConfigError, Settings, load

Deploy = Callable[[Settings], Mapping[str, pulumi.Input[object]]]


def target_function(target: str) -> Deploy:
    """The deploy function of ``target``; a clear error when it is not installed."""
    if target == "docker":
        from coachdb_infra.docker_target import deploy_docker

        return deploy_docker
    if target == "railway":
        try:
            module = importlib.import_module("coachdb_infra.railway")
        except ModuleNotFoundError as exc:
            if exc.name not in ("coachdb_infra.railway",):
                raise
            module = None
        deploy = getattr(module, "deploy_railway", None)
        if deploy is None:
            raise ConfigError(
                "target",
                "the Railway target is not available in this checkout "
                "(package coachdb_infra.railway with deploy_railway(settings) is missing)",
                "update the repository, or pulumi config set coachdb:target docker",
            )
        return deploy
    raise ConfigError(
        "target", f"unknown target {target!r}", "pulumi config set coachdb:target docker"
    )


def main() -> Mapping[str, pulumi.Input[object]]:
    settings = load()
    outputs = target_function(settings.target)(settings)
    for name, value in outputs.items():
        pulumi.export(name, value)
    return outputs
