"""The table of majors (src/coachdb/versions.py): support range, tags, end of life."""

from __future__ import annotations

import datetime as dt

import pytest

from coachdb import versions


def test_table_covers_14_to_18_with_the_published_final_release_dates() -> None:
    # postgresql.org/support/versioning: "final release" of each major
    assert {m: v.eol.isoformat() for m, v in versions.MAJORS.items()} == {
        14: "2026-11-12",
        15: "2027-11-11",
        16: "2028-11-09",
        17: "2029-11-08",
        18: "2030-11-14",
    }
    for major, entry in versions.MAJORS.items():
        assert versions.tag_problem(entry.image_tag, major) is None


@pytest.mark.parametrize(
    ("value", "words"),
    [(13, "below 14"), ("9", "below 14"), (19, "unknown"), ("x", "not a PostgreSQL major")],
)
def test_unsupported_majors_are_refused_with_a_reason(value: object, words: str) -> None:
    problem = versions.major_problem(value)
    assert problem is not None and words in problem
    with pytest.raises(ValueError, match=words):
        versions.parse_major(value)


@pytest.mark.parametrize(
    ("tag", "major", "ok"),
    [
        ("17", 17, True),
        ("17.10-bookworm", 17, True),
        ("17-alpine3.20", 17, True),
        ("14.23", 17, False),
        ("1", 17, False),
        ("170", 17, False),
        ("latest", 14, False),
    ],
)
def test_image_tags_must_name_the_major(tag: str, major: int, ok: bool) -> None:
    assert (versions.tag_problem(tag, major) is None) is ok


def test_end_of_life_starts_the_day_after_the_final_release() -> None:
    assert not versions.eol_status(14, "2026-11-12").past_eol
    assert versions.eol_status(14, dt.date(2026, 11, 13)).past_eol
    assert not versions.eol_status(17, "2026-11-29").past_eol


def test_today_is_injected_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(versions.TODAY_ENV, "2030-01-01")
    assert versions.today() == dt.date(2030, 1, 1)
    monkeypatch.setenv(versions.TODAY_ENV, "soon")
    with pytest.raises(ValueError, match="COACHDB_TODAY='soon' is not a date"):
        versions.today()


# The cases below came out of `make mutmut` (survivors and untested code of versions.py).


@pytest.mark.parametrize("value", [14, "14", " 17 ", 18])
def test_every_supported_major_is_accepted_and_parsed(value: object) -> None:
    assert versions.major_problem(value) is None
    assert versions.parse_major(value) == int(str(value))


def test_eol_status_reports_major_date_and_verdict() -> None:
    past = versions.eol_status(14, "2026-11-13")
    assert past.as_dict() == {
        "server_major": 14,
        "server_eol": True,
        "eol_date": "2026-11-12",
        "today": "2026-11-13",
    }
    assert past.message() == (
        "PostgreSQL 14 reached end of life on 2026-11-12: no more security fixes. "
        "Upgrade to 17 (docs/upgrade.md)"
    )
    on_the_day = versions.eol_status("14", "2026-11-12")
    assert on_the_day.major == 14 and not on_the_day.past_eol
    assert on_the_day.message() == "PostgreSQL 14 is supported until 2026-11-12"
    target = versions.eol_status(versions.UPGRADE_TARGET, "2031-01-01")  # 17 itself past EOL
    assert target.message().endswith("Upgrade to a newer major (docs/upgrade.md)")
    newest = versions.eol_status(18, "2031-01-01")
    assert newest.past_eol and newest.message().endswith(
        "Upgrade to a newer major (docs/upgrade.md)"
    )


def test_eol_status_of_a_major_outside_the_table() -> None:
    status = versions.eol_status(13, "2026-01-01")
    assert status.eol is None and not status.past_eol
    assert status.as_dict()["eol_date"] is None and status.as_dict()["server_eol"] is False
    assert status.message().startswith("PostgreSQL 13 is not in the support table (")


def test_today_defaults_to_the_utc_date(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(versions.TODAY_ENV, raising=False)
    assert versions.today() == dt.datetime.now(dt.UTC).date()
    monkeypatch.setenv(versions.TODAY_ENV, "2027-02-03")
    assert versions.today() == dt.date(2027, 2, 3)


def test_default_image_is_the_majors_pinned_tag() -> None:
    assert versions.default_image(17) == f"postgres:{versions.MAJORS[17].image_tag}"
    assert versions.default_image("14", "registry.example/pg") == (
        f"registry.example/pg:{versions.MAJORS[14].image_tag}"
    )
    with pytest.raises(ValueError, match="below 14"):
        versions.default_image(13)
