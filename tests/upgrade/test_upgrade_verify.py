"""The verification before the switch refuses to switch when the sides differ, each mode.

Row counts and per-table checksums are compared before ``switch()`` (logical mode: two
pinned snapshots, between two short write pauses; dump mode: inside the pause). The
difference here is one an upgrade can really meet: a stored generated column whose
expression calls a function marked IMMUTABLE that is not (it reads the server's
version), so the new major computes other values for the same rows -- the row counts
are equal, only a checksum sees it. Nothing switches, the application's roles may log
in to the old side again, and nothing of the data move is left behind. Without the
difference the same run switches once, with the counts and checksums equal.
"""

from __future__ import annotations

import psycopg
import pytest

from coachdb import rolemodel, upgrade
from tests.support.pgcluster import Cluster, running_cluster
from tests.upgrade.drill import FROM_MAJOR, NEW_SETTINGS, OLD_SETTINGS, TO_MAJOR, bindir

pytestmark = pytest.mark.pg

# a function that claims to be immutable and is not: its value depends on the major
LYING_FUNCTION = """
CREATE FUNCTION public.tag(bigint) RETURNS text IMMUTABLE LANGUAGE sql
AS $$ SELECT current_setting('server_version_num') || ':' || $1 $$
"""


def _can_login(cluster: Cluster, model: rolemodel.RoleModel) -> dict[str, bool]:
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname = ANY(%s)",
            ([model.app, model.migrator],),
        ).fetchall()
    return dict(rows)


def _leftovers(old: Cluster, new: Cluster, database: str) -> tuple[int, ...]:
    found = []
    for cluster, query in (
        (new, "SELECT count(*) FROM pg_subscription"),
        (old, "SELECT count(*) FROM pg_publication"),
        (old, "SELECT count(*) FROM pg_replication_slots"),
    ):
        with psycopg.connect(cluster.dsn(database), autocommit=True) as conn:
            row = conn.execute(query).fetchone()
        found.append(row[0] if row else -1)
    return tuple(found)


@pytest.mark.parametrize("mode", upgrade.MODES)
@pytest.mark.parametrize("differs", [True, False], ids=["generated-column-differs", "equal"])
def test_a_difference_found_before_the_switch_keeps_the_old_side(mode: str, differs: bool) -> None:
    model = rolemodel.RoleModel()
    with (
        running_cluster(bindir(FROM_MAJOR), settings=OLD_SETTINGS) as old_c,
        running_cluster(bindir(TO_MAJOR), settings=NEW_SETTINGS) as new_c,
    ):
        rolemodel.apply_all(lambda db: psycopg.connect(old_c.dsn(db)), model)
        with psycopg.connect(old_c.dsn(model.database), autocommit=True) as conn:
            conn.execute(LYING_FUNCTION)
        tag = "public.tag(id)" if differs else "'constant'"
        with psycopg.connect(old_c.dsn(model.database, user=model.migrator), autocommit=True) as c:
            c.execute(
                "CREATE TABLE public.t (id bigserial PRIMARY KEY, v text NOT NULL, "
                f"tag text GENERATED ALWAYS AS ({tag}) STORED)"
            )
            c.execute("INSERT INTO public.t (v) SELECT 'row ' || g FROM generate_series(1, 500) g")
        switched: list[str] = []
        old = upgrade.Side(old_c.dsn(), model.database)
        new = upgrade.Side(new_c.dsn(), model.database)

        def run() -> upgrade.Result:
            return upgrade.upgrade(
                old, new, mode=mode, model=model, switch=lambda: switched.append("switch")
            )

        if differs:
            with pytest.raises(
                upgrade.UpgradeError,
                match=r"not switching: row counts or per-table checksums differ: "
                r"public\.t rows \(500, 500\)",
            ):
                run()
            assert switched == []
            assert _can_login(old_c, model) == {model.app: True, model.migrator: True}
        else:
            result = run()
            assert switched == ["switch"] and result.checksums_equal
            assert result.counts == {"public.t": (500, 500)}
            assert result.sequences == {"public.t_id_seq": (500, 500)}
            assert len(result.pauses) == (2 if mode == "logical" else 1)
            assert _can_login(old_c, model) == {model.app: False, model.migrator: False}
        assert _can_login(new_c, model) == {model.app: True, model.migrator: True}
        assert _leftovers(old_c, new_c, model.database) == (0, 0, 0)
