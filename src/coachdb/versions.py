"""The PostgreSQL majors the platform supports and when each reaches end of life.

Why one table: the Ansible roles (preflight and the warning at the end of
``site.yml``, through the ``coachdb_versions`` filters), the Pulumi program
(``coachdb:postgresMajor`` and the image tag) and ``coachdb check`` all ask the
same questions -- is this major supported, which image tag belongs to it, is it
past end of life -- and must give the same answers. The dates are the "final
release" dates of postgresql.org's versioning policy
(https://www.postgresql.org/support/versioning/): five years after the first
release, on the November minor release day.

"Today" is injectable everywhere (argument, or ``COACHDB_TODAY=YYYY-MM-DD``)
so that tests never depend on the calendar silently.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from typing import Any

TODAY_ENV = "COACHDB_TODAY"


@dataclass(frozen=True)
class Major:
    """One supported major: its end-of-life date and the pinned image tag of its latest minor."""

    number: int
    eol: dt.date
    image_tag: str


MAJORS: dict[int, Major] = {
    m.number: m
    for m in (
        Major(14, dt.date(2026, 11, 12), "14.23-bookworm"),
        Major(15, dt.date(2027, 11, 11), "15.18-bookworm"),
        Major(16, dt.date(2028, 11, 9), "16.14-bookworm"),
        Major(17, dt.date(2029, 11, 8), "17.10-bookworm"),
        Major(18, dt.date(2030, 11, 14), "18.4-bookworm"),
    )
}
DEFAULT_MAJOR = 14  # production parity: the platform asked for 14
UPGRADE_TARGET = 17  # the major the upgrade drill proves from DEFAULT_MAJOR
MIN_MAJOR = min(MAJORS)
MAX_MAJOR = max(MAJORS)


def supported_text() -> str:
    return f"{MIN_MAJOR}..{MAX_MAJOR}"


def major_problem(value: Any) -> str | None:
    """Why ``value`` is not a supported major (None when it is one)."""
    try:
        number = int(str(value).strip())
    except ValueError:
        return f"{value!r} is not a PostgreSQL major version number (supported: {supported_text()})"
    if number < MIN_MAJOR:
        return (
            f"PostgreSQL {number} is below {MIN_MAJOR}, the oldest major this platform supports "
            f"(supported: {supported_text()})"
        )
    if number not in MAJORS:
        return (
            f"PostgreSQL {number} is unknown to this release of the bundle (supported: "
            f"{supported_text()}); add it to src/coachdb/versions.py once it is released"
        )
    return None


def parse_major(value: Any) -> int:
    """The supported major ``value`` names; ValueError with the reason otherwise."""
    problem = major_problem(value)
    if problem:
        raise ValueError(problem)
    return int(str(value).strip())


def today(value: dt.date | str | None = None) -> dt.date:
    """The date to judge end of life by: ``value``, else ``$COACHDB_TODAY``, else the UTC date."""
    if isinstance(value, dt.date):
        return value
    text = value or os.environ.get(TODAY_ENV)
    if text:
        try:
            return dt.date.fromisoformat(str(text))
        except ValueError:
            raise ValueError(f"{TODAY_ENV}={text!r} is not a date (YYYY-MM-DD)") from None
    return dt.datetime.now(dt.UTC).date()


@dataclass(frozen=True)
class EolStatus:
    """Whether a major is past end of life on a given day."""

    major: int
    eol: dt.date | None
    today: dt.date

    @property
    def past_eol(self) -> bool:
        return self.eol is not None and self.today > self.eol

    def as_dict(self) -> dict[str, Any]:
        return {
            "server_major": self.major,
            "server_eol": self.past_eol,
            "eol_date": self.eol.isoformat() if self.eol else None,
            "today": self.today.isoformat(),
        }

    def message(self) -> str:
        if self.eol is None:
            return f"PostgreSQL {self.major} is not in the support table ({supported_text()})"
        if self.past_eol:
            target = UPGRADE_TARGET if self.major < UPGRADE_TARGET else "a newer major"
            return (
                f"PostgreSQL {self.major} reached end of life on {self.eol.isoformat()}: no more "
                f"security fixes. Upgrade to {target} (docs/upgrade.md)"
            )
        return f"PostgreSQL {self.major} is supported until {self.eol.isoformat()}"


def eol_status(major: int, on: dt.date | str | None = None) -> EolStatus:
    entry = MAJORS.get(int(major))
    return EolStatus(int(major), entry.eol if entry else None, today(on))


def tag_problem(tag: str, major: int) -> str | None:
    """Why an image tag does not name ``major`` (14, 14.N, 14.N-<variant>, 14-<variant>)."""
    pattern = rf"^{int(major)}(\.[0-9]+)?(-[a-z0-9][a-z0-9.-]*)?$"
    if re.match(pattern, tag):
        return None
    return (
        f"tag {tag!r} is not a PostgreSQL {major} tag ({major}, {major}.N, {major}.N-<variant>), "
        f"but the major setting says {major}"
    )


def default_image(major: int, repository: str = "postgres") -> str:
    return f"{repository}:{MAJORS[parse_major(major)].image_tag}"


__all__ = [
    "DEFAULT_MAJOR",
    "MAJORS",
    "EolStatus",
    "Major",
    "default_image",
    "eol_status",
    "major_problem",
    "parse_major",
    "tag_problem",
    "today",
]
