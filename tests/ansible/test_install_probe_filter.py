"""postgresql_install reads its probe (filter_plugins/coachdb_install_probe.py) as written.

Why: every decision of the role on a re-run (refresh the lists, probe PGDG, choose the major,
install what is missing) reads this parse; a package counted as installed while dpkg reports
it removed would skip its installation, a section cut short would hide apt's candidate. Fast:
fixed output in the shape the probe prints (tests/ansible/test_fallback.py runs the real one).
"""

from __future__ import annotations

from tests.ansible.conftest import role_filters

PARSE = role_filters("postgresql_install", "coachdb_install_probe")["coachdb_install_probe"]

OUTPUT = """@@ lists yes
@@ policy-requested
postgresql-14:
  Installed: (none)
  Candidate: (none)
@@ policy-distribution
postgresql:
  Installed: 15+248
  Candidate: 15+248
@@ installed
ii  acl
rc  postgresql-14
ii  postgresql-15
un  python3-psycopg2
iU  locales
@@ locales
C
C.utf8
en_US.UTF-8
@@ files
/etc/ansible/facts.d|directory|root|root|755
"""


def test_sections_are_read_whole() -> None:
    seen = PARSE(OUTPUT)
    assert seen["lists"] is True
    assert seen["policy_requested"] == "postgresql-14:\n  Installed: (none)\n  Candidate: (none)"
    assert seen["policy_distribution"].endswith("Candidate: 15+248")
    assert seen["file_lines"] == ["/etc/ansible/facts.d|directory|root|root|755"]


def test_only_packages_dpkg_reports_installed_count() -> None:
    assert PARSE(OUTPUT)["installed"] == ["acl", "postgresql-15"]


def test_locales_are_compared_lower_case_without_dashes() -> None:
    assert PARSE(OUTPUT)["locales"] == ["c", "c.utf8", "en_us.utf8"]


def test_no_lists_and_no_output() -> None:
    assert PARSE("@@ lists no\n@@ installed\n")["lists"] is False
    empty = PARSE("")
    assert empty["lists"] is False and empty["installed"] == [] and empty["policy_requested"] == ""


def test_pgdg_answer_is_read_only_when_it_is_a_status() -> None:
    """The probe's PGDG read (a first run whose major the distribution lacks): the status it
    printed; no section, an empty one (no python3) or anything else: "" (the uri module asks)."""
    assert PARSE(OUTPUT)["pgdg"] == ""
    assert PARSE("@@ lists yes\n@@ pgdg\n200\n@@ installed\n")["pgdg"] == "200"
    assert PARSE("@@ pgdg\n-1\n")["pgdg"] == "-1"
    assert PARSE("@@ pgdg\n404\n")["pgdg"] == "404"
    for unusable in ("@@ pgdg\n", "@@ pgdg\nTraceback\n", "@@ pgdg\n200\n200\n", "@@ pgdg\n2000\n"):
        assert PARSE(unusable)["pgdg"] == "", unusable
