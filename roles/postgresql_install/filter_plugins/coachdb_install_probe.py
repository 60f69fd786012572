"""Ansible filter that splits postgresql_install's probe output into what the role reads.

Why: the probe (vars/main.yml ``_postgresql_install_probe_argv``) prints every installed
package (dpkg-query, ~900 lines on a desktop) and apt-cache's policy in one round trip; the
role reads from that output in the conditions of several tasks. Parsed by Jinja filter chains
(regex per section, ``select('match')`` per package line) it cost ~0.1 s of controller time
at each reading; in Python once per reading it is well under a millisecond.
"""

from __future__ import annotations

import re
from typing import Any


def coachdb_install_probe(stdout: str) -> dict[str, Any]:
    """``{lists, policy_requested, policy_distribution, installed, locales, pgdg, file_lines}``.

    Sections start with an ``@@ <name>`` line (``@@ lists yes|no`` carries its value);
    ``installed``: the packages dpkg reports installed (``ii``); ``locales``: ``locale -a``
    names lower-cased without dashes (how the role compares them); ``pgdg``: the HTTP status
    of PGDG's Release file (``"-1"``: unreachable) when the probe asked, else ``""`` (also for
    an answer that is not a status: the role then asks with the uri module); ``file_lines``:
    the shared file probe's lines, for ``coachdb_probe``.
    """
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in (stdout or "").splitlines():
        if line.startswith("@@ "):
            current = sections.setdefault(line[3:].strip(), [])
        elif current is not None:
            current.append(line)
    rows = (line.split() for line in sections.get("installed", []))
    installed = [fields[-1] for fields in rows if fields and fields[0] == "ii"]
    pgdg = [line.strip() for line in sections.get("pgdg", []) if line.strip()]
    return {
        "lists": "lists yes" in sections,
        "policy_requested": "\n".join(sections.get("policy-requested", [])),
        "policy_distribution": "\n".join(sections.get("policy-distribution", [])),
        "installed": installed,
        "locales": [name.lower().replace("-", "") for name in sections.get("locales", [])],
        "pgdg": pgdg[0] if len(pgdg) == 1 and re.fullmatch(r"-1|[1-5][0-9][0-9]", pgdg[0]) else "",
        "file_lines": sections.get("files", []),
    }


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"coachdb_install_probe": coachdb_install_probe}
