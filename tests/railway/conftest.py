"""Fixtures for the Railway provider tests: the schema, a fake Railway, tokens."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Railway's published schema (introspection JSON); COACHDB_RAILWAY_SCHEMA overrides
SCHEMA = Path(
    os.environ.get("COACHDB_RAILWAY_SCHEMA", REPO.parent / "shared" / "railway" / "schema.json")
)
FETCH_HINT = (
    f"Railway GraphQL schema not found at {SCHEMA}, so the schema-checked tests are skipped. "
    "Fetch the live schema with an account or workspace token:  "
    ".venv/bin/python -c \"import json,graphql; print(json.dumps({'query': "
    'graphql.get_introspection_query()}))" | curl -sf https://backboard.railway.com/graphql/v2 '
    '-H "Authorization: Bearer $RAILWAY_TOKEN" -H "Content-Type: application/json" '
    f"--data @- -o {SCHEMA}  (or set COACHDB_RAILWAY_SCHEMA to a copy)"
)

# the Pulumi program's package lives in pulumi/ (it is not installed); the
# fake server and tests.support are imported from the repository root
for path in (REPO / "pulumi", REPO):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from tests.railway.fake_railway import ACCOUNT_TOKEN  # noqa: E402


@pytest.fixture(scope="session")
def schema():
    if not SCHEMA.exists():
        pytest.skip(FETCH_HINT)
    from tests.railway.fake_railway import load_schema

    return load_schema(SCHEMA)


@pytest.fixture
def fake(schema):
    from tests.railway.fake_railway import FakeRailway

    server = FakeRailway(schema)
    server.account_tokens.add(ACCOUNT_TOKEN)
    server.endpoint = server.serve()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def api(fake):
    """Credential inputs for the providers, pointed at the fake server."""
    return {
        "token": ACCOUNT_TOKEN,
        "token_kind": "account",
        "endpoint": fake.endpoint,
        "api_timeout": 5.0,
    }
