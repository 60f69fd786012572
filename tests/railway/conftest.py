"""Fixtures for the Railway provider tests: the schema, a fake Railway, tokens."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.railway.fake_railway import ACCOUNT_TOKEN, FakeRailway, load_schema

REPO = Path(__file__).resolve().parents[2]
# Railway's published schema, vendored with its licence (vendor/railway/README.md)
SCHEMA = REPO / "vendor" / "railway" / "schema.json"


@pytest.fixture(scope="session")
def schema():
    return load_schema(SCHEMA)


@pytest.fixture
def fake(schema):
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
