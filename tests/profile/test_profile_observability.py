"""The preloaded libraries exist on every target's server (issue 15: no silent divergence).

Debian's packages and the official image ship both modules; the Docker/Railway real-container
tests run a stand-in built from the npm binaries (scripts/fetch-pg.sh), so those binaries must
ship them too, or the profile's ``shared_preload_libraries`` would stop the container's server.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from coachdb import profile

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("major", [14, 17])
def test_standin_binaries_ship_every_preloaded_library(major: int) -> None:
    libdir = REPO / ".cache" / f"pg{major}" / "native" / "lib" / "postgresql"
    assert libdir.is_dir(), f"run scripts/fetch-pg.sh {major} (make test-prereqs)"
    for library in profile.PRELOAD_LIBRARIES:
        assert (libdir / f"{library}.so").is_file(), f"PostgreSQL {major} npm build lacks {library}"


def test_preload_libraries_are_the_profile_setting() -> None:
    settings = profile.baseline_settings()
    assert settings["shared_preload_libraries"] == ",".join(profile.PRELOAD_LIBRARIES)
    # every module parameter belongs to a preloaded module
    for name in settings:
        if "." in name:
            assert name.split(".")[0] in profile.PRELOAD_LIBRARIES, name


def test_docs_state_each_setting_and_its_value() -> None:
    """docs/observability.md's cost table names every setting with the profile's value."""
    doc = (REPO / "docs" / "observability.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in doc.splitlines() if line.startswith("| `")}
    for name, value in profile.observability_settings().items():
        row = next((line for key, line in rows.items() if f"`{name}`" in key), None)
        assert row is not None, f"docs/observability.md has no row for {name}"
        shown = profile.pg_value(value)
        assert f"`{shown}`" in row or f" {shown} " in row or f"**{shown}**" in row, (name, shown)
