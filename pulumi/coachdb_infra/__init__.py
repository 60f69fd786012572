"""coachdb Pulumi program: PostgreSQL for Elite Trading Coach AI on a Docker host or Railway.

Packages: ``common`` (what both targets use), ``docker`` and ``railway`` (one per
target, each with its settings module and its component); ``program`` picks the target.
"""
