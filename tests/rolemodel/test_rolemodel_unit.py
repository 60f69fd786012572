"""Unit tests without a server: SCRAM against RFC 7677's vector, input validation, rendering."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from coachdb import rolemodel
from coachdb.scram import is_verifier, saslprep, scram_verifier, verify_password

# RFC 7677 section 3: user "user", password "pencil", a full SCRAM-SHA-256 exchange.
RFC_PASSWORD = "pencil"  # pragma: allowlist secret
RFC_SALT = "W22ZaJ0SNY7soEsUEjb6gQ=="  # pragma: allowlist secret
RFC_CLIENT_FIRST_BARE = "n=user,r=rOprNGfwEbeRWgbNEkqO"
RFC_SERVER_FIRST = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"  # pragma: allowlist secret  # noqa: E501
RFC_CLIENT_FINAL_NO_PROOF = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
RFC_PROOF = "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="  # pragma: allowlist secret
RFC_SERVER_SIGNATURE = "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="  # pragma: allowlist secret


def test_verifier_reproduces_the_rfc_7677_exchange() -> None:
    """The verifier's StoredKey accepts the RFC's client proof; its ServerKey signs like the RFC."""
    verifier = scram_verifier(RFC_PASSWORD, "user", 4096, base64.b64decode(RFC_SALT))
    head, keys = verifier.rsplit("$", 1)
    assert head == f"SCRAM-SHA-256$4096:{RFC_SALT}"
    stored_key, server_key = (base64.b64decode(k) for k in keys.split(":"))
    auth = f"{RFC_CLIENT_FIRST_BARE},{RFC_SERVER_FIRST},{RFC_CLIENT_FINAL_NO_PROOF}".encode()
    client_signature = hmac.new(stored_key, auth, hashlib.sha256).digest()
    client_key = bytes(
        a ^ b for a, b in zip(base64.b64decode(RFC_PROOF), client_signature, strict=True)
    )
    assert hashlib.sha256(client_key).digest() == stored_key
    server_signature = hmac.new(server_key, auth, hashlib.sha256).digest()
    assert base64.b64encode(server_signature).decode() == RFC_SERVER_SIGNATURE


def test_salt_is_deterministic_per_password_and_role() -> None:
    a = scram_verifier("correct horse battery staple", "trading_coach_user")
    assert a == scram_verifier("correct horse battery staple", "trading_coach_user")
    assert a != scram_verifier("correct horse battery staple", "trading_coach_migrator")
    assert (
        a.split("$")[1]
        != scram_verifier("correct horse battery stapler", "trading_coach_user").split("$")[1]
    )
    assert is_verifier(a)
    assert len(base64.b64decode(a.split("$")[1].split(":")[1])) == 16


def test_verify_password() -> None:
    verifier = scram_verifier("s3cret-but-long-enough", "r")
    assert verify_password("s3cret-but-long-enough", verifier)
    assert not verify_password("s3cret-but-long-enougH", verifier)
    assert not verify_password("anything", "md5abcdef")


def test_saslprep_like_postgresql() -> None:
    assert saslprep("plain ascii \x07 kept") == b"plain ascii \x07 kept"  # ASCII: untouched
    assert saslprep("a\u00a0b") == b"a b"  # non-ASCII space maps to space
    assert saslprep("\ufb01x") == b"fix"  # NFKC
    assert saslprep("a\u00adb") == b"ab"  # soft hyphen maps to nothing
    assert saslprep("\u0007\u00e9") == "\u0007\u00e9".encode()  # prohibited: raw bytes


@pytest.mark.parametrize("bad", ["", "md5" + "0" * 32, "plaintext-password", "SCRAM-SHA-256$x"])
def test_password_sql_refuses_anything_but_a_verifier(bad: str) -> None:
    assert not is_verifier(bad)
    with pytest.raises(ValueError, match="not a SCRAM-SHA-256 verifier"):
        rolemodel.render_password_sql("trading_coach_user", bad)


def test_password_sql_from_a_verifier() -> None:
    verifier = scram_verifier("a-long-enough-password", "trading_coach_user")
    assert rolemodel.render_password_sql("trading_coach_user", verifier) == (
        f"ALTER ROLE \"trading_coach_user\" PASSWORD '{verifier}'"
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("app", "Trading", "not a valid name"),
        ("app", "app; DROP ROLE x", "not a valid name"),
        ("app", "a" * 64, "not a valid name"),
        ("app", "1app", "not a valid name"),
        ("app", "pg_app", "reserved by PostgreSQL"),
        ("app", "public", "reserved"),
        ("owner", "postgres", "reserved"),
        ("database", "", "not a valid name"),
        ("database", "db'name", "not a valid name"),
        ("schemas", ["public", "Bad"], "not a valid name"),
        ("schemas", [], "non-empty"),
        ("app", "trading_coach_owner", "distinct"),
    ],
)
def test_model_refuses_bad_names(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rolemodel.RoleModel(**{field: value})


def test_defaults_are_the_platform_names() -> None:
    m = rolemodel.RoleModel()
    assert (m.database, m.owner, m.migrator, m.app) == (
        "elite_trading_coach_ai",
        "trading_coach_owner",
        "trading_coach_migrator",
        "trading_coach_user",
    )
    assert m.login_roles == ("trading_coach_migrator", "trading_coach_user")
    assert rolemodel.RoleModel(readonly_enabled=True).login_roles[-1] == "trading_coach_readonly"
    assert rolemodel.RoleModel.coerce({"app": "other_app"}).app == "other_app"


@pytest.mark.parametrize(
    "phase", [None, "roles", "database", "other_database", list(rolemodel.PHASES)]
)
def test_templates_render_without_passwords(phase: object) -> None:
    for sql in (rolemodel.render_apply_sql(None, phase), rolemodel.render_drift_sql(None, phase)):
        assert "PASSWORD" not in sql.upper().replace("PASSWORD AUTHENTICATION", "")
        assert "{{" not in sql and "{%" not in sql


def test_unknown_phase_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown phase"):
        rolemodel.render_apply_sql(None, "everything")


def test_init_script_orders_phases_and_keeps_passwords_out_of_the_log() -> None:
    verifier = scram_verifier("a-long-enough-password", "trading_coach_user")
    script = rolemodel.render_init_script(None, {"trading_coach_user": verifier})
    order = [
        script.index("phase roles"),
        script.index("\\gexec"),
        script.index("\\connect elite_trading_coach_ai"),
        script.index("phase database"),
        script.index("\\connect template1"),
        script.index("SET log_statement = 'none'"),
        script.index(verifier),
    ]
    assert order == sorted(order)
