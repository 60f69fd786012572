"""The rollback's write detection (filter coachdb_upgrade_writes) tells every kind of write.

Fast, no server: the snapshots are what roles/postgresql_upgrade/tasks/snapshot.yml reads
(``{db: {schema.table: [relfilenode, n_tup_ins + n_tup_upd + n_tup_del]}}``); the real
statistics are exercised in molecule/upgrade (a written-to new cluster is refused).
"""

from __future__ import annotations

from tests.ansible.conftest import role_filters

writes = role_filters("postgresql_upgrade", "coachdb_upgrade_writes")["coachdb_upgrade_writes"]

BASE = {"app": {"public.a": [16400, 10], "public.b": [16410, 0]}, "postgres": {}}


def test_unchanged_counters_are_no_writes() -> None:
    assert writes(BASE, BASE) == {"written": [], "reset": []}


def test_each_kind_of_write_is_named() -> None:
    now = {
        "app": {"public.a": [16400, 12], "public.b": [16499, 0], "public.c": [16500, 0]},
        "postgres": {"public.d": [16600, 1]},
    }
    found = writes(now, {**BASE, "postgres": {}, "gone": {"public.e": [1, 0]}})
    assert found["written"] == [
        "app/public.a (2 rows written)",
        "app/public.b (rewritten: TRUNCATE, VACUUM FULL or CLUSTER)",
        "app/public.c (created)",
        "gone/public.e (dropped)",
        "postgres/public.d (created)",
    ]
    assert found["reset"] == []


def test_a_counter_that_went_back_is_a_reset() -> None:
    now = {"app": {"public.a": [16400, 0], "public.b": [16410, 0]}, "postgres": {}}
    assert writes(now, BASE) == {"written": [], "reset": ["app/public.a (counter 10 -> 0)"]}
