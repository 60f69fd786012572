"""One read-only probe per role, and the comparisons that decide whether a module must run.

Why: with the docker connection every module run costs ~0.3 s whatever it does (issue 15).
A role runs one shell command that reports the state of everything it manages (paths, units,
packages); its ``file``/``copy``/``template``/``systemd_service``/``apt`` tasks then run only
``when:`` that state differs from what they would make it. The probe script and its parser are
defined here once, for every role (the other roles' filter_plugins link to this file), so the
line format and the comparisons cannot drift apart between roles.

Probe output, one line per fact (other lines, e.g. a role's own ``before``/``after`` commands,
are ignored by the parser):

- ``<path>|<type>|<owner>|<group>|<mode>`` (``stat``) and, for a file, ``<sha1>  <path>``;
  a missing path prints nothing;
- ``unit <name> <is-enabled> <is-active>`` where systemd runs (nothing where it does not);
- ``pkg <name> <dpkg status abbrev> <version>`` for a known package (nothing for an unknown one).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

# Positional arguments: an absolute path, "pkg:<package>" or a systemd unit name.
PROBE_LOOP = (
    "for a; do case $a in "
    '/*) stat -c \'%n|%F|%U|%G|%a\' -- "$a" && { [ -d "$a" ] || sha1sum -- "$a"; };; '
    "pkg:*) dpkg-query -W -f 'pkg ${Package} ${db:Status-Abbrev} ${Version}\\n' -- \"${a#pkg:}\";; "
    "*) [ -d /run/systemd/system ] && "
    'echo "unit $a $(systemctl is-enabled "$a") $(systemctl is-active "$a")";; '
    "esac; done 2>/dev/null"
)

_SHA1_LINE = re.compile(r"^([0-9a-f]{40})  (/.*)$")
_FILE_TYPES = ("regular file", "regular empty file")


def coachdb_probe_argv(
    targets: Iterable[str], before: str = "", after: str = "true", arg0: str = "probe"
) -> list[str]:
    """argv of the probe for ``targets``; ``before``/``after``: the role's own shell commands.

    ``arg0`` is ``$0`` of the script (a value ``before`` may read); the command's exit status
    is that of ``after`` (``true`` by default: a missing path is an answer, not an error).
    """
    script = f"{before} {PROBE_LOOP}; {after}".strip()
    return ["sh", "-c", script, str(arg0), *(str(t) for t in targets)]


def coachdb_probe(lines: Iterable[str]) -> dict[str, dict[str, dict[str, str]]]:
    """Parse the probe's output lines once into ``{paths, units, packages}`` dictionaries."""
    paths: dict[str, dict[str, str]] = {}
    units: dict[str, dict[str, str]] = {}
    packages: dict[str, dict[str, str]] = {}
    for line in lines:
        sha1 = _SHA1_LINE.match(line)
        if sha1:
            paths.setdefault(sha1.group(2), {})["sha1"] = sha1.group(1)
        elif line.startswith("unit "):
            # is-enabled prints nothing for an unknown unit: split on single spaces.
            _, name, enabled, active = [*line.split(" ", 3), "", ""][:4]
            units[name] = {"enabled": enabled, "active": active.strip()}
        elif line.startswith("pkg "):
            fields = line.split()
            packages[fields[1]] = {
                "status": fields[2] if len(fields) > 2 else "",
                "version": fields[3] if len(fields) > 3 else "",
            }
        elif line.startswith("/") and line.count("|") >= 4:
            path, kind, owner, group, mode = line.rsplit("|", 4)
            entry = paths.setdefault(path, {})
            entry.update(type=kind, owner=owner, group=group, mode=mode)
    return {"paths": paths, "units": units, "packages": packages}


def _mode(value: Any) -> int:
    """A mode as the file module takes it: an octal string ("0640") or the number itself."""
    return value if isinstance(value, int) else int(str(value), 8)


def _attrs_differ(entry: Mapping[str, str], owner: str, group: str, mode: Any) -> bool:
    """True when the stat fields are missing or differ from owner, group and mode."""
    if "mode" not in entry:
        return True
    return (
        entry["owner"] != str(owner)
        or entry["group"] != str(group)
        or int(entry["mode"], 8) != _mode(mode)
    )


def coachdb_probe_dir_differs(
    probe: Mapping[str, Any], path: str, owner: str, group: str, mode: Any
) -> bool:
    """True when ``path`` is not a directory with this owner, group and mode."""
    entry = probe["paths"].get(str(path), {})
    return entry.get("type") != "directory" or _attrs_differ(entry, owner, group, mode)


def coachdb_probe_file_differs(
    probe: Mapping[str, Any], path: str, owner: str, group: str, mode: Any, content: str
) -> bool:
    """True when ``path`` is not a file with this owner, group, mode and content.

    ``content`` is what the module would write (a template or file lookup, a ``content:``
    string), compared by SHA-1 as ``sha1sum`` printed it: a file edited by hand differs.
    """
    entry = probe["paths"].get(str(path), {})
    digest = hashlib.sha1(str(content).encode("utf-8")).hexdigest()  # noqa: S324 (not security)
    return (
        entry.get("type") not in _FILE_TYPES
        or _attrs_differ(entry, owner, group, mode)
        or entry.get("sha1") != digest
    )


def coachdb_probe_files_differing(
    probe: Mapping[str, Any], files: Iterable[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """The entries of ``files`` (the ``coachdb_files`` module's input: path, content and
    owner/group/mode, defaults root/root/0644) that differ from the probe's view: exactly
    what the module would change, so a task can hand it only those."""
    return [
        f
        for f in files
        if coachdb_probe_file_differs(
            probe,
            f["path"],
            f.get("owner", "root"),
            f.get("group", "root"),
            f.get("mode", "0644"),
            f["content"],
        )
    ]


def coachdb_probe_unit_differs(
    probe: Mapping[str, Any], name: str, enabled: bool = True, active: bool = True
) -> bool:
    """True when unit ``name`` is not enabled (or disabled) and active (or not) as asked.

    Where systemd does not run the probe reports no unit, so this is True and the module
    runs (and reports what it can).
    """
    entry = probe["units"].get(str(name))
    if entry is None:
        return True
    want_enabled = "enabled" if enabled else "disabled"
    return entry["enabled"] != want_enabled or (entry["active"] == "active") != bool(active)


# Enable (or disable) and start units in one round trip, printing "changed" only when their
# enabled or active state differs afterwards (a handler may already have started a unit the
# probe saw stopped: then this call changed nothing and must not say it did). No separate
# daemon-reload: `systemctl enable` and `systemctl disable` reload systemd themselves, also
# when no symlink changes (checked on Debian 12's systemd 252 and Debian 13's 257: a drop-in
# or unit file written just before is read before `--now` starts the unit), so unit files a
# role wrote in the same run need no reload of their own.
_UNIT_STATE = 's() { systemctl is-enabled "$@"; systemctl is-active "$@"; }; b=$(s "$@"); '
_STATE_CHANGED = '[ "$b" = "$(s "$@")" ] || echo changed'
ENABLE_NOW = _UNIT_STATE + 'systemctl enable --now "$@" || exit $?; ' + _STATE_CHANGED
START_DISABLED = (
    _UNIT_STATE
    + 'systemctl disable "$@" || exit $?; systemctl start "$@" || exit $?; '
    + _STATE_CHANGED
)


def coachdb_enable_now_argv(units: Iterable[str], enabled: bool = True) -> list[str]:
    """argv that enables and starts ``units`` (one round trip; systemd re-reads the unit files
    first, see above); its stdout says "changed" exactly when a unit's enabled or active state
    changed. ``enabled=False``: disabled (not started at boot), then started."""
    script = ENABLE_NOW if enabled else START_DISABLED
    return ["sh", "-c", script, "enable-now", *(str(u) for u in units)]


def coachdb_probe_packages_missing(probe: Mapping[str, Any], names: Iterable[str]) -> list[str]:
    """The packages of ``names`` that dpkg does not list as installed ("ii").

    ``apt state=present`` accepts any installed version, so "ii" is exactly what it would
    leave alone; a half-installed or removed package is missing and apt repairs it.
    """
    packages = probe["packages"]
    return [n for n in names if packages.get(str(n), {}).get("status") != "ii"]


def coachdb_probe_latest(first: Mapping[str, Any], again: Any = None) -> Mapping[str, Any]:
    """The registered result of the newest probe run: ``again`` when it ran, else ``first``.

    Why: a role probes once and, when apt installed packages (they create files and
    directories), probes again; what follows must read the newer answer. ``again`` is the
    re-run's registered result: undefined (pass ``default(none)``) or skipped when apt
    installed nothing.
    """
    if isinstance(again, Mapping) and not again.get("skipped", False):
        return again
    return first


class FilterModule:
    """Ansible entry point."""

    def filters(self) -> dict[str, Any]:
        return {
            "coachdb_probe_argv": coachdb_probe_argv,
            "coachdb_probe": coachdb_probe,
            "coachdb_probe_dir_differs": coachdb_probe_dir_differs,
            "coachdb_probe_file_differs": coachdb_probe_file_differs,
            "coachdb_probe_files_differing": coachdb_probe_files_differing,
            "coachdb_probe_unit_differs": coachdb_probe_unit_differs,
            "coachdb_probe_packages_missing": coachdb_probe_packages_missing,
            "coachdb_probe_latest": coachdb_probe_latest,
            "coachdb_enable_now_argv": coachdb_enable_now_argv,
        }
