"""KPI 2 ("all required tables created successfully with proper indexes"), app side.

Why here and not in sqitch: the check runs with the application's own settings
and role (no sqitch, no migrator password on the app host), so it reads the
sqitch plan file and the registry (``sqitch.changes``, readable by the app role
thanks to the change ``registry_read``) and the catalogs itself:

* every change of the plan is deployed (by name, for the plan's project);
* every application table has a primary key;
* every foreign key is covered by a non-partial index whose leading columns are
  exactly the key's columns (so ON DELETE and joins do not scan the child);
* every verify script passes, run inside a transaction that is rolled back, so
  a change deployed with ``--no-verify`` whose verify fails is caught.

Verify scripts must be plain SQL (no psql meta-commands or variables, no
transaction control): sqitch runs them with psql, this module with psycopg.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

# The repository's sqitch project (src/coachdb/../../db) when running from a checkout.
DEFAULT_MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "db"
REGISTRY_SCHEMA = "sqitch"


@dataclass(frozen=True)
class Plan:
    """What the check needs from ``sqitch.plan``: the project and its changes in order."""

    directory: Path
    project: str
    changes: tuple[str, ...]


def migrations_dir(explicit: str | None = None) -> Path:
    """``--migrations``, else ``$COACHDB_MIGRATIONS_DIR``, else the repository's ``db/``."""
    chosen = explicit or os.environ.get("COACHDB_MIGRATIONS_DIR")
    return Path(chosen) if chosen else DEFAULT_MIGRATIONS_DIR


def read_plan(directory: Path) -> Plan:
    """Parse the plan's pragmas and change lines (tags, comments and blanks are skipped).

    A reworked change appears more than once; it is listed once, at its last position.
    """
    text = (directory / "sqitch.plan").read_text()
    project = ""
    changes: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("%project="):
            project = line.split("=", 1)[1].strip()
        if not line or line[0] in "%#@":
            continue
        name = line.split()[0].lstrip("+")
        if name in changes:
            changes.remove(name)
        changes.append(name)
    if not project:
        raise ValueError(f"{directory / 'sqitch.plan'}: no %project pragma")
    return Plan(directory=directory, project=project, changes=tuple(changes))


# Application schemas: everything but the catalogs, temporary schemas and the sqitch registry.
TABLES_WITHOUT_PK_SQL = """
SELECT c.oid::pg_catalog.regclass::text
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'sqitch')
   AND n.nspname NOT LIKE 'pg\\_%'
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k
                    WHERE k.conrelid = c.oid AND k.contype = 'p')
 ORDER BY 1
"""

APP_TABLES_SQL = """
SELECT count(*)
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'sqitch')
   AND n.nspname NOT LIKE 'pg\\_%'
"""

# indkey is an int2vector: cast to int2[] it is 0-based.
UNINDEXED_FKS_SQL = """
SELECT k.conrelid::pg_catalog.regclass::text || '.' || k.conname
  FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_namespace n ON n.oid = k.connamespace
 WHERE k.contype = 'f' AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'sqitch')
   AND n.nspname NOT LIKE 'pg\\_%'
   AND NOT EXISTS (
         SELECT 1 FROM pg_catalog.pg_index i
          WHERE i.indrelid = k.conrelid AND i.indpred IS NULL AND i.indisvalid
            AND (i.indkey::int2[])[0:pg_catalog.array_length(k.conkey, 1) - 1] @> k.conkey
            AND (i.indkey::int2[])[0:pg_catalog.array_length(k.conkey, 1) - 1] <@ k.conkey)
 ORDER BY 1
"""

FOREIGN_KEYS_SQL = """
SELECT count(*)
  FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_namespace n ON n.oid = k.connamespace
 WHERE k.contype = 'f' AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'sqitch')
   AND n.nspname NOT LIKE 'pg\\_%'
"""


def _one(conn: psycopg.Connection[Any], query: str, params: tuple[Any, ...] | None = None) -> Any:
    row = conn.execute(query, params).fetchone()
    return row[0] if row else None


def deployed_changes(conn: psycopg.Connection[Any], project: str) -> list[str] | None:
    """Changes the registry records for ``project``; None when the registry is not readable."""
    if _one(conn, "SELECT pg_catalog.to_regclass(%s)", (f"{REGISTRY_SCHEMA}.changes",)) is None:
        return None
    if not _one(conn, "SELECT has_table_privilege(%s, 'SELECT')", (f"{REGISTRY_SCHEMA}.changes",)):
        return None
    rows = conn.execute(
        f"SELECT change FROM {REGISTRY_SCHEMA}.changes WHERE project = %s "  # noqa: S608
        "ORDER BY committed_at",
        (project,),
    ).fetchall()
    return [str(r[0]) for r in rows]


def run_verify(conn: psycopg.Connection[Any], script: Path) -> str | None:
    """Run one verify script in a transaction that is always rolled back; the error or None."""
    try:
        with conn.transaction(force_rollback=True):
            conn.execute(script.read_text().encode())
    except psycopg.Error as exc:
        return " ".join(str(exc).split()) or exc.__class__.__name__
    return None


@dataclass
class SchemaResult:
    """The four findings of KPI 2."""

    plan: Plan
    deployed: list[str] | None
    tables: int
    foreign_keys: int
    without_pk: list[str]
    unindexed_fks: list[str]
    verify_failures: dict[str, str]

    @property
    def missing(self) -> list[str]:
        done = set(self.deployed or [])
        return [c for c in self.plan.changes if c not in done]

    @property
    def problems(self) -> list[str]:
        found = []
        if self.deployed is None:
            found.append(
                f"the sqitch registry ({REGISTRY_SCHEMA}.changes) is missing or not readable "
                "by this role: deploy the plan (docs/migrations.md)"
            )
        elif self.missing:
            found.append(
                f"{len(self.missing)} of {len(self.plan.changes)} changes not deployed: "
                + ", ".join(self.missing)
            )
        if self.without_pk:
            found.append("tables without a primary key: " + ", ".join(self.without_pk))
        if self.unindexed_fks:
            found.append(
                "foreign keys without an index on their columns: " + ", ".join(self.unindexed_fks)
            )
        found += [f"verify {name} failed: {error}" for name, error in self.verify_failures.items()]
        return found


def inspect_schema(conn: psycopg.Connection[Any], plan: Plan) -> SchemaResult:
    """Read-only: registry, catalogs, and the verify scripts of the deployed changes."""
    deployed = deployed_changes(conn, plan.project)
    failures: dict[str, str] = {}
    for name in plan.changes:
        if deployed is not None and name in deployed:
            error = run_verify(conn, plan.directory / "verify" / f"{name}.sql")
            if error is not None:
                failures[name] = error
    return SchemaResult(
        plan=plan,
        deployed=deployed,
        tables=int(_one(conn, APP_TABLES_SQL) or 0),
        foreign_keys=int(_one(conn, FOREIGN_KEYS_SQL) or 0),
        without_pk=[r[0] for r in conn.execute(TABLES_WITHOUT_PK_SQL).fetchall()],
        unindexed_fks=[r[0] for r in conn.execute(UNINDEXED_FKS_SQL).fetchall()],
        verify_failures=failures,
    )


__all__ = [
    "DEFAULT_MIGRATIONS_DIR",
    "Plan",
    "SchemaResult",
    "inspect_schema",
    "migrations_dir",
    "read_plan",
    "run_verify",
]
