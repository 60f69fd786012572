"""The checksums after the switch roll back automatically when the sides differ.

The write pause holds only row counts, sequences and the role model; the per-table
checksums run after ``switch()`` against a snapshot of the new side taken just before
it. Here the switch callback also changes one row on the frozen old side (same row
count: only a checksum can see it, as with a copy that lost an update), so the counts
pass, the switch happens, and the checksums must catch it: the rollback callback runs,
the application roles may log in to the old side again and not to the new one.
"""

from __future__ import annotations

import psycopg
import pytest

from coachdb import rolemodel, upgrade
from tests.support.pgcluster import available_bindirs, fetch_hint, running_cluster

pytestmark = pytest.mark.pg


def _bindir(major: int):  # type: ignore[no-untyped-def]
    found = available_bindirs()
    if major not in found:
        pytest.skip(f"PostgreSQL {major} binaries missing ({fetch_hint(major)})")
    return found[major]


def _can_login(dsn: str, model: rolemodel.RoleModel) -> dict[str, bool]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname = ANY(%s)",
            ([model.app, model.migrator],),
        ).fetchall()
    return dict(rows)


@pytest.mark.parametrize("corrupt", [True, False], ids=["old-side-changed", "sides-equal"])
def test_checksum_difference_after_the_switch_rolls_back(corrupt: bool) -> None:
    model = rolemodel.RoleModel()
    with running_cluster(_bindir(14)) as c14, running_cluster(_bindir(17)) as c17:
        rolemodel.apply_all(lambda db: psycopg.connect(c14.dsn(db)), model)
        with psycopg.connect(c14.dsn(model.database, user=model.migrator), autocommit=True) as c:
            c.execute("CREATE TABLE public.t (id bigserial PRIMARY KEY, v text NOT NULL)")
            c.execute("INSERT INTO public.t (v) SELECT 'row ' || g FROM generate_series(1, 500) g")
        events: list[str] = []

        def switch() -> None:
            events.append("switch")
            if corrupt:
                with psycopg.connect(c14.dsn(model.database), autocommit=True) as conn:
                    conn.execute("UPDATE public.t SET v = 'changed' WHERE id = 7")

        old = upgrade.Side(c14.dsn(), model.database)
        new = upgrade.Side(c17.dsn(), model.database)
        run = lambda: upgrade.upgrade(  # noqa: E731
            old,
            new,
            mode="dump",
            model=model,
            switch=switch,
            rollback=lambda: events.append("rollback"),
        )
        if corrupt:
            with pytest.raises(
                upgrade.UpgradeError,
                match=r"checksums differ after the switch \(public\.t\): rolled back",
            ):
                run()
            assert events == ["switch", "rollback"]
            assert _can_login(c14.dsn(), model) == {model.app: True, model.migrator: True}
            assert _can_login(c17.dsn(), model) == {model.app: False, model.migrator: False}
        else:
            result = run()
            assert events == ["switch"] and result.checksums_equal and not result.rolled_back
            assert result.counts == {"public.t": (500, 500)}
            assert result.switched_at <= result.finished_at
            assert _can_login(c14.dsn(), model) == {model.app: False, model.migrator: False}
            assert _can_login(c17.dsn(), model) == {model.app: True, model.migrator: True}
