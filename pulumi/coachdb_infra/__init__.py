"""coachdb Pulumi program: PostgreSQL 14 for Elite Trading Coach AI on a Docker host or Railway."""
