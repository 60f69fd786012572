"""Client-side SCRAM-SHA-256 verifiers (RFC 5802 / RFC 7677, PostgreSQL's format).

Why compute the verifier ourselves: ``ALTER ROLE ... PASSWORD 'plaintext'`` puts
the plaintext in the statement, and with ``log_statement = 'ddl'`` (CIS 3.1.x)
the server writes that statement to its log. Sending the finished verifier
means the plaintext never leaves the machine that knows it.

Why a *deterministic* salt: Ansible's ``postgresql_user`` (and our own
``set_password``) decide "changed" by comparing the verifier string with
``pg_authid.rolpassword``. A random salt would change the verifier on every
run. The salt is therefore derived from the password and the role name with
PBKDF2 using at least as many iterations as the verifier itself: checking a
password guess against the salt costs as much as checking it against the
StoredKey, so the derivation adds no shortcut for an attacker who has the hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import stringprep
import unicodedata

DEFAULT_ITERATIONS = 4096
MIN_PASSWORD_LENGTH = 16
# Characters that break env files (docker --env-file keeps quotes literally) or shells.
_ENV_UNSAFE = set(" \t\r\n\"'`$\\#")
SALT_LENGTH = 16  # bytes, PostgreSQL's SCRAM_DEFAULT_SALT_LEN
_SALT_DOMAIN = b"coachdb-scram-salt-v1:"

VERIFIER_RE = re.compile(
    r"^SCRAM-SHA-256\$(?P<iterations>[1-9][0-9]*):(?P<salt>[A-Za-z0-9+/]+={0,2})"
    r"\$(?P<stored_key>[A-Za-z0-9+/]+={0,2}):(?P<server_key>[A-Za-z0-9+/]+={0,2})$"
)

__all__ = [
    "DEFAULT_ITERATIONS",
    "VERIFIER_RE",
    "derive_salt",
    "is_verifier",
    "password_problems",
    "saslprep",
    "scram_verifier",
    "verify_password",
]


def _is_prohibited(ch: str) -> bool:
    return any(
        check(ch)
        for check in (
            stringprep.in_table_c12,
            stringprep.in_table_c21_c22,
            stringprep.in_table_c3,
            stringprep.in_table_c4,
            stringprep.in_table_c5,
            stringprep.in_table_c6,
            stringprep.in_table_c7,
            stringprep.in_table_c8,
            stringprep.in_table_c9,
            stringprep.in_table_a1,
        )
    )


def saslprep(password: str) -> bytes:
    """Normalise a password the way PostgreSQL's ``pg_saslprep`` does.

    PostgreSQL passes pure-ASCII passwords through unchanged; otherwise it
    applies SASLprep (RFC 4013) and, if the result would be prohibited, falls
    back to the raw UTF-8 bytes (so such passwords still work, just unnormalised).
    """
    raw = password.encode("utf-8")
    if password.isascii():
        return raw
    mapped = "".join(
        " " if stringprep.in_table_c12(ch) else ch
        for ch in password
        if not stringprep.in_table_b1(ch)
    )
    normalized = unicodedata.normalize("NFKC", mapped)
    if not normalized or any(_is_prohibited(ch) for ch in normalized):
        return raw
    has_ral = any(stringprep.in_table_d1(ch) for ch in normalized)
    if has_ral and (
        any(stringprep.in_table_d2(ch) for ch in normalized)
        or not stringprep.in_table_d1(normalized[0])
        or not stringprep.in_table_d1(normalized[-1])
    ):
        return raw
    return normalized.encode("utf-8")


def derive_salt(password: str, role: str, iterations: int = DEFAULT_ITERATIONS) -> bytes:
    """Deterministic 16-byte salt for ``password`` of ``role`` (see module docstring)."""
    return hashlib.pbkdf2_hmac(
        "sha256",
        saslprep(password),
        _SALT_DOMAIN + role.encode("utf-8"),
        max(iterations, DEFAULT_ITERATIONS),
        dklen=SALT_LENGTH,
    )


def _keys(password: str, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    salted = hashlib.pbkdf2_hmac("sha256", saslprep(password), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return stored_key, server_key


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def scram_verifier(
    password: str,
    role: str,
    iterations: int = DEFAULT_ITERATIONS,
    salt: bytes | None = None,
) -> str:
    """Return ``SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`` for ``password``.

    ``role`` only feeds the deterministic salt (two roles with the same password
    get different verifiers). Pass ``salt`` to reproduce a verifier made elsewhere.
    """
    if not isinstance(password, str) or password == "":
        raise ValueError("password must be a non-empty string")
    if iterations < 1:
        raise ValueError("iterations must be positive")
    if salt is None:
        salt = derive_salt(password, role, iterations)
    stored_key, server_key = _keys(password, salt, iterations)
    return f"SCRAM-SHA-256${iterations}:{_b64(salt)}${_b64(stored_key)}:{_b64(server_key)}"


def is_verifier(value: str) -> bool:
    """True when ``value`` is a well-formed SCRAM-SHA-256 verifier (not a plaintext)."""
    return bool(VERIFIER_RE.match(value or ""))


def verify_password(password: str, verifier: str) -> bool:
    """True when ``password`` matches ``verifier`` (constant-time comparison)."""
    match = VERIFIER_RE.match(verifier or "")
    if not match:
        return False
    salt = base64.b64decode(match["salt"])
    stored_key, server_key = _keys(password, salt, int(match["iterations"]))
    return hmac.compare_digest(_b64(stored_key), match["stored_key"]) and hmac.compare_digest(
        _b64(server_key), match["server_key"]
    )


def password_problems(password: str, min_length: int = MIN_PASSWORD_LENGTH) -> list[str]:
    """Why a *supplied* password is refused (empty list: acceptable).

    The messages never contain the password. Besides length, a password must be
    usable verbatim in an env file (no whitespace, quotes, backslash, ``$`` or
    ``#``) and must not be one character repeated.
    """
    problems = []
    if len(password) < min_length:
        problems.append(f"{len(password)} characters; at least {min_length} are required")
    if len(set(password)) < min(8, min_length):
        problems.append("too few distinct characters (at least 8)")
    if _ENV_UNSAFE & set(password) or any(ord(ch) < 32 for ch in password):
        problems.append("contains whitespace, a quote, a backslash, $ or # (they break env files)")
    return problems
