"""Helpers shared by the pytest suites (not tests themselves)."""
