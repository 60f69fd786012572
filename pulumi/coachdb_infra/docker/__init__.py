"""The Docker-host target of the coachdb Pulumi program.

Entry point: :func:`deploy_docker` (called by ``coachdb_infra.program`` for
``coachdb:target docker``). Modules: ``settings`` (the target's stack keys),
``server`` (what runs in the container), ``deploy`` (the ``coachdb:docker:Database``
component). Docs: docs/deploy-docker.md.
"""

from __future__ import annotations

from .deploy import DockerDatabase, deploy_docker
from .settings import DockerSettings, GreenSettings

__all__ = ["DockerDatabase", "DockerSettings", "GreenSettings", "deploy_docker"]
