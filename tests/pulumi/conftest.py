"""Fixtures for the Pulumi program tests (mock runtime; real Docker for the proof)."""

from __future__ import annotations

import pytest
from pulumi_mocks import ProgramRun, run_program


@pytest.fixture
def default_run() -> ProgramRun:
    """The program with an empty stack configuration (every default)."""
    return run_program({})
