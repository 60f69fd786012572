"""Small pure helpers of the Pulumi program: SAN sorting, URL building, password script."""

from __future__ import annotations

import urllib.parse

import pulumi
import pytest
from coachdb_infra.common import initdb
from coachdb_infra.common.tls import split_sans
from coachdb_infra.docker.deploy import database_url


def test_split_sans_separates_ips_and_dedupes() -> None:
    dns, ips = split_sans(
        ["LocalHost", "localhost", "127.0.0.1", "::1", "0:0::1", "db.example.com"]
    )
    assert dns == ["localhost", "db.example.com"]
    assert ips == ["127.0.0.1", "::1"]


@pulumi.runtime.test
def test_database_url_brackets_ipv6_and_quotes_the_password() -> pulumi.Output[None]:
    url = database_url(
        "trading_coach_user", pulumi.Output.secret("p@ss/w:rd"), "::1", 5433, "db", "/ca.crt"
    )

    def check(args: list[object]) -> None:
        value, secret = args
        parts = urllib.parse.urlsplit(str(value))
        assert parts.hostname == "::1" and parts.port == 5433
        assert urllib.parse.unquote(parts.password or "") == "p@ss/w:rd"
        assert urllib.parse.parse_qs(parts.query)["sslmode"] == ["verify-full"]
        assert secret is True

    async def is_secret() -> bool:
        return await url.is_secret()

    return pulumi.Output.all(url, pulumi.Output.from_input(is_secret())).apply(check)


def test_passwords_script_refuses_plaintext() -> None:
    with pytest.raises(ValueError, match="verifier"):
        initdb.passwords_sql({"trading_coach_user": "plaintext-password"})
    with pytest.raises(ValueError, match="verifier"):
        initdb.passwords_sql({"postgres": "plaintext-password"})


def test_passwords_script_keeps_verifiers_out_of_the_log() -> None:
    script = initdb.passwords_sql(initdb.verifiers_for({"trading_coach_user": "x" * 20}))
    lines = script.splitlines()
    assert "SET log_statement = 'none';" in lines
    assert lines.index("SET log_statement = 'none';") < next(
        i for i, line in enumerate(lines) if line.startswith("ALTER ROLE")
    )
    assert lines[-1] == "RESET log_statement;"
