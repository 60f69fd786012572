"""coachdb: database tooling shared by every target of the Elite Trading Coach AI platform.

The package is both the application's client library (configuration, pool,
health check) and the single source of truth for the database's role model
(:mod:`coachdb.rolemodel`, :mod:`coachdb.scram`), which Ansible, Pulumi and the
Railway tooling all import instead of keeping their own copies of the grants.
"""

__version__ = "0.1.0"
