"""Ansible filter: has the upgraded cluster been written to since the upgrade ended?

Why: a rollback to the old major is loss-free only while the new cluster holds nothing the
old one lacks (docs/upgrade.md, "Rollback"). upgrade.yml records, per user table of every
database, the relfilenode and n_tup_ins + n_tup_upd + n_tup_del of the cumulative statistics;
upgrade-rollback.yml reads them again and compares here. An INSERT, UPDATE or DELETE raises
a counter; TRUNCATE, VACUUM FULL and CLUSTER change the relfilenode; CREATE and DROP add or
remove a table. A counter below the recorded one means the statistics were reset (a crash,
pg_stat_reset): writes can then no longer be ruled out, which is reported too.
"""

from __future__ import annotations

from typing import Any

Snapshot = dict[str, dict[str, list[int]]]


def _flatten(snapshot: Snapshot) -> dict[str, tuple[int, int]]:
    """``{db: {schema.table: [relfilenode, writes]}}`` -> ``{db/schema.table: (node, writes)}``."""
    return {
        f"{db}/{table}": (int(pair[0]), int(pair[1]))
        for db, tables in (snapshot or {}).items()
        for table, pair in (tables or {}).items()
    }


def coachdb_upgrade_writes(current: Snapshot, baseline: Snapshot) -> dict[str, list[str]]:
    """Tables written since ``baseline`` (``written``) and tables whose counters went back
    (``reset``), each as sorted ``db/schema.table`` names with the reason."""
    now, then = _flatten(current), _flatten(baseline)
    written: list[str] = []
    reset: list[str] = []
    for name in sorted(set(now) | set(then)):
        if name not in then:
            written.append(f"{name} (created)")
        elif name not in now:
            written.append(f"{name} (dropped)")
        elif now[name][0] != then[name][0]:
            written.append(f"{name} (rewritten: TRUNCATE, VACUUM FULL or CLUSTER)")
        elif now[name][1] > then[name][1]:
            written.append(f"{name} ({now[name][1] - then[name][1]} rows written)")
        elif now[name][1] < then[name][1]:
            reset.append(f"{name} (counter {then[name][1]} -> {now[name][1]})")
    return {"written": written, "reset": reset}


class FilterModule:
    """Ansible entry point."""

    def filters(self) -> dict[str, Any]:
        return {"coachdb_upgrade_writes": coachdb_upgrade_writes}
