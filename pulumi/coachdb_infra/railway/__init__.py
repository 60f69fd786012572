"""The Railway target of the coachdb Pulumi program.

Entry point: :func:`deploy_railway` (called by ``coachdb_infra.program`` for
``coachdb:target railway``). Modules: ``client`` (HTTP/GraphQL), ``documents``
(every query and mutation, schema-checked in tests), ``providers`` (dynamic
providers), ``bootstrap`` (what the container runs), ``database`` (role model
over TLS), ``deploy`` (the resource graph). Docs: docs/deploy-railway.md.
"""

from __future__ import annotations

from .deploy import RailwaySettings, deploy_railway, load_settings

__all__ = ["RailwaySettings", "deploy_railway", "load_settings"]
