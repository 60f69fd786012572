"""The profile's WAL settings shrink the WAL a write produces, on every server build we ship.

Why: archiving's CPU grows with the WAL bytes per transaction (issue 15, ``make
bench-server``), and right after a checkpoint most of those bytes are full-page images.
``wal_compression`` compresses them; losing the setting would silently bring archiving's cost
back. Each build the targets run (the npm 14 and 17 behind the test stand-in image, Debian's
15) must accept the profile's value and write measurably less WAL for the same update than
with compression off.
"""

from __future__ import annotations

import psycopg
import pytest

from coachdb import profile
from tests.support.pgcluster import (
    EDGE_MAJORS,
    Cluster,
    available_bindirs,
    fetch_hint,
    running_cluster,
)

ROWS = 20_000  # ~250 heap pages
# one row in a hundred, so about one row per page: like an OLTP update, most of its WAL is the
# image of the page (its first change after a checkpoint)
UPDATE = "UPDATE wal_probe SET n = n + 1 WHERE id % 100 = 0"


def _wal_of_update(cluster: Cluster, compression: str) -> int:
    """WAL bytes of one UPDATE touching every page right after a checkpoint."""
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute(f"SET wal_compression = '{compression}'")
        conn.execute("VACUUM wal_probe")  # the same page state before every measurement
        conn.execute("CHECKPOINT")
        before = conn.execute("SELECT pg_current_wal_insert_lsn()").fetchone()
        conn.execute(UPDATE)
        row = conn.execute(
            "SELECT pg_current_wal_insert_lsn() - %s::pg_lsn", [before[0] if before else None]
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("major", sorted({*EDGE_MAJORS, 15}))
def test_profile_wal_compression_shrinks_full_page_images(major: int) -> None:
    bindirs = available_bindirs()
    if major not in bindirs:
        pytest.skip(f"no PostgreSQL {major} server binaries ({fetch_hint(major)})")
    settings = {k: profile.pg_value(v) for k, v in profile.wal_settings().items()}
    with running_cluster(bindirs[major], settings=settings) as cluster:
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            # rows like an application's: numbers and repetitive text (fillfactor 50: the
            # new row versions stay on their page)
            conn.execute("CREATE TABLE wal_probe (id int, n int, note text) WITH (fillfactor=50)")
            conn.execute(
                "INSERT INTO wal_probe SELECT i, 0, 'order ' || i || ' filled at market' "
                "FROM generate_series(1, %s) i",
                [ROWS],
            )
            shown = conn.execute("SHOW wal_compression").fetchone()
        assert shown is not None
        plain = _wal_of_update(cluster, "off")
        compressed = _wal_of_update(cluster, shown[0])
        print(f"PostgreSQL {major}: {plain} bytes of WAL off, {compressed} {shown[0]}")
    assert compressed < 0.5 * plain, (
        f"PostgreSQL {major}: wal_compression={shown[0]} wrote {compressed} bytes of WAL, "
        f"off wrote {plain}: the profile's WAL settings do not compress full-page images"
    )
