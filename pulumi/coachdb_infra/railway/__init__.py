"""The Railway target of the coachdb Pulumi program.

Entry point: :func:`deploy_railway` (called by ``coachdb_infra.program`` for
``coachdb:target railway``). Modules: ``settings`` (the target's stack keys),
``client`` (HTTP/GraphQL), ``documents`` (every query and mutation, schema-checked
in tests), ``providers`` (dynamic providers), ``bootstrap`` (what the container
runs), ``database`` (role model over TLS), ``deploy`` (the ``coachdb:railway:Database``
component). Docs: docs/deploy-railway.md.
"""

from __future__ import annotations

from .deploy import RailwayDatabase, deploy_railway
from .settings import RailwaySettings
from .settings import load as load_settings

__all__ = ["RailwayDatabase", "RailwaySettings", "deploy_railway", "load_settings"]
