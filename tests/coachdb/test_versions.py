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
