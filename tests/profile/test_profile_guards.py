"""coachdb.profile's guarded list and its checker, without Ansible or Pulumi around them."""

from __future__ import annotations

import pytest

from coachdb import profile

# Issue 16's minimum: the settings the bundle's promises rest on. The list may grow; a
# setting dropped from it would let postgresql_extra_settings/serverSettings switch it off.
REQUIRED = {
    "ssl": False,
    "ssl_min_protocol_version": False,
    "password_encryption": False,
    "fsync": False,
    "full_page_writes": False,
    "listen_addresses": False,
    "hba_file": False,
    "ssl_cert_file": False,
    "ssl_key_file": False,
    "ssl_ca_file": False,
    "ignore_checksum_failure": False,
    "zero_damaged_pages": False,
    "archive_mode": True,
    "archive_command": True,
}


def test_the_issue_minimum_is_guarded() -> None:
    guards = {g.name: g for g in profile.GUARDS}
    for name, backups_only in REQUIRED.items():
        assert name in guards, f"{name} is not guarded"
        assert guards[name].backups_only is backups_only, name
    assert profile.CLIENT_GUARDS.keys() == {"sslmode"}


@pytest.mark.parametrize("name", sorted(profile.SERVER_GUARDS))
def test_each_guard_refuses_then_waives(name: str) -> None:
    refused = profile.check_guarded(
        {name: "off"}, variable="v", allowed=[], allowed_variable="w", backups=True
    )
    assert len(refused.errors) == 1 and refused.warnings == []
    assert refused.errors[0].startswith(f"v may not set {name}: it is a guarded setting")
    waived = profile.check_guarded(
        {name: "off"}, variable="v", allowed=[name], allowed_variable="w", backups=True
    )
    assert waived.errors == [] and len(waived.warnings) == 1


def test_archive_guards_only_while_backups_are_on() -> None:
    report = profile.check_guarded(
        {"archive_mode": "off", "work_mem": "8MB"},
        variable="v",
        allowed=[],
        allowed_variable="w",
        backups=False,
    )
    assert report.errors == [] and report.warnings == []


def test_several_overrides_give_one_message_each() -> None:
    report = profile.check_guarded(
        {"fsync": "off", "ssl": "off", "work_mem": "8MB"},
        variable="v",
        allowed=["unknown"],
        allowed_variable="w",
        backups=True,
    )
    assert [e.split(" ")[0:4] for e in report.errors] == [
        ["w", "lists", "'unknown',", "which"],
        ["v", "may", "not", "set"],
        ["v", "may", "not", "set"],
    ]
    assert "set fsync:" in report.errors[1] and "set ssl:" in report.errors[2]


def test_url_builder_quotes_and_brackets() -> None:
    url = profile.database_url(
        user="u",
        password="a/b@c",  # pragma: allowlist secret (test value)
        host="fd00::1",
        port=5432.0,
        database="d b",
    )
    netloc = "u:a%2Fb%40c@[fd00::1]:5432"  # pragma: allowlist secret (test value)
    assert url == f"postgresql://{netloc}/d%20b?sslmode=verify-full"
