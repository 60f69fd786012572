"""The program: validate the configuration, pick the target, export the outputs.

``target: docker`` runs ``coachdb_infra.docker.deploy_docker``, ``target: railway``
runs ``coachdb_infra.railway.deploy_railway``. The shared keys are read here
(``coachdb_infra.common.config.load``); each ``deploy_*`` first reads its target's
own keys (its ``settings`` module), then declares its component. Every ``deploy_*``
returns a mapping of stack-output name to value; secrets must already be secret Outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pulumi

from coachdb_infra.common.config import ConfigError, Settings, load

Deploy = Callable[[Settings], Mapping[str, pulumi.Input[object]]]


def target_function(target: str) -> Deploy:
    """The deploy function of ``target`` (imported lazily: each target has its own SDKs)."""
    if target == "docker":
        from coachdb_infra.docker import deploy_docker

        return deploy_docker
    if target == "railway":
        from coachdb_infra.railway import deploy_railway

        return deploy_railway
    raise ConfigError(
        "target", f"unknown target {target!r}", "pulumi config set coachdb:target docker"
    )


def main() -> Mapping[str, pulumi.Input[object]]:
    settings = load()
    outputs = target_function(settings.target)(settings)
    for name, value in outputs.items():
        pulumi.export(name, value)
    return outputs
