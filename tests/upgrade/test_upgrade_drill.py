"""The upgrade drill in `make test`: 14.23 -> 17 under continuous writes, each mode.

Both modes run here with real servers: ``logical`` (publication/subscription,
switch with a write pause) and ``dump`` (pg_dump/pg_restore of Debian's client,
writes paused for the whole copy). ``pg_upgrade``/``pg_upgradecluster`` cannot
run here: they need both majors' complete server installations (with
``pg_upgrade`` and the old major's libraries), and the npm builds ship only
initdb, pg_ctl and postgres. The figures are printed; the assertions are about
behaviour (nothing acknowledged lost, tables equal, sequences ahead), not speed.
"""

from __future__ import annotations

import os

import pytest

from tests.upgrade.drill import run_drill

pytestmark = [pytest.mark.pg, pytest.mark.slow]
DRILL_MB = int(os.environ.get("COACHDB_DRILL_MB", "16"))


@pytest.mark.parametrize("mode", ["logical", "dump"])
def test_upgrade_14_to_17_loses_no_acknowledged_write(
    mode: str, capsys: pytest.CaptureFixture[str]
) -> None:
    figures = run_drill(mode, DRILL_MB)
    with capsys.disabled():
        print("\n" + "\n".join(figures.lines()))
    assert figures.server_versions[0].startswith("14.") and figures.server_versions[1].startswith(
        "17."
    )
    assert figures.acked > 0
    assert figures.lost == 0 and figures.wrong_payload == 0, figures.lines()
    assert figures.tables == 2 and figures.tables_equal == figures.tables
    assert figures.sequences_ok and set(figures.sequences) == {
        "public.trades_id_seq",
        "public.candles_id_seq",
    }
