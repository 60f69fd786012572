#!/usr/bin/python
"""Write several whole files and their directories in one module run (atomic, check mode, diff).

Why: with the docker connection every round trip costs ~0.3 s, and ``ansible.builtin.template``
costs three per file (stat, put, copy) even with pipelining; a cold converge writes some
twenty files (issue 15). The roles render each file on the controller with the ``template``
lookup, as their read-only probes already do for the checksum they compare, and hand the
texts of one handler group (files whose change needs the same reload or restart) to this
module: one round trip for the group. ``template`` stays the field's tool for a single file
written outside such a gate; this module exists only for the round trips.

Directories (``directories``, created or given their owner, group and mode in list order,
before any file) spare the file module's round trip per directory: a role creates its
directories and writes its files in the one run.

Each file is replaced atomically (a temporary file in the same directory, flushed, given its
owner, group and mode, then renamed over the old one), so a reader never sees half a file.
Every owner, group and parent directory (a file's may be listed in ``directories``) is checked
before the first write: bad input changes
nothing. Check mode reports exactly what a real run would change and writes nothing; with
--diff the old and new texts are shown, except for files marked ``secret`` (the task must then
also carry ``no_log: true``, which hides the texts from the task's arguments).
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
import tempfile
from typing import Any

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: coachdb_files
short_description: Write several whole files at once (atomic; owner, group, mode)
description:
  - Each file gets exactly I(content) and the given owner, group and mode; a file whose
    content or attributes differ is replaced atomically (content) or changed in place
    (attributes only). Missing parent directories, owners or groups fail before any write.
  - Each directory of I(directories) is created (with its missing parents, as the file
    module does) or given its owner, group and mode, in list order, before any file is written.
options:
  directories:
    description: Directories to create (missing parents too, alike) or repair, before the files.
    type: list
    elements: dict
    default: []
    suboptions:
      path: {description: Absolute path of the directory., type: path, required: true}
      owner: {description: Owning user., type: str, default: root}
      group: {description: Owning group., type: str, default: root}
      mode: {description: Octal mode (C("0755")) or a number., type: raw, default: "0755"}
  files:
    description: The files to write.
    type: list
    elements: dict
    default: []
    suboptions:
      path: {description: Absolute path of the file., type: path, required: true}
      content: {description: The whole text of the file., type: str, required: true}
      owner: {description: Owning user., type: str, default: root}
      group: {description: Owning group., type: str, default: root}
      mode: {description: Octal mode (C("0644")) or a number., type: raw, default: "0644"}
      secret: {description: Leave the texts out of the diff., type: bool, default: false}
"""

RETURN = r"""
changed_files:
  description: Paths (directories first, then files) that were (check mode - would be) created
    or whose content or attributes were changed.
  type: list
  elements: str
"""

_FILE_SPEC: dict[str, Any] = {
    "path": {"type": "path", "required": True},
    "content": {"type": "str", "required": True},
    "owner": {"type": "str", "default": "root"},
    "group": {"type": "str", "default": "root"},
    "mode": {"type": "raw", "default": "0644"},
    "secret": {"type": "bool", "default": False},
}


_DIR_SPEC: dict[str, Any] = {
    "path": {"type": "path", "required": True},
    "owner": {"type": "str", "default": "root"},
    "group": {"type": "str", "default": "root"},
    "mode": {"type": "raw", "default": "0755"},
}


def _mode(value: Any) -> int:
    """An octal string ("0640") or an int, as the file module takes it."""
    if isinstance(value, int):
        return value
    try:
        mode = int(str(value), 8)
    except ValueError as exc:
        raise ValueError(f"mode {value!r} is not an octal number") from exc
    if not 0 <= mode <= 0o7777:
        raise ValueError(f"mode {value!r} is out of range")
    return mode


def _ids(path: str, spec: dict[str, Any]) -> tuple[int, int]:
    try:
        uid = pwd.getpwnam(spec["owner"]).pw_uid
    except KeyError as exc:
        raise ValueError(f"{path}: owner {spec['owner']} does not exist") from exc
    try:
        gid = grp.getgrnam(spec["group"]).gr_gid
    except KeyError as exc:
        raise ValueError(f"{path}: group {spec['group']} does not exist") from exc
    return uid, gid


def _wanted(path: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The path with the uid, gid and mode it must have (a file's or a directory's)."""
    uid, gid = _ids(path, spec)
    return {"path": path, "uid": uid, "gid": gid, "mode": _mode(spec["mode"])}


def _attrs(st: os.stat_result) -> tuple[int, int, int]:
    """uid, gid and mode as found on disk, compared with the wanted ones."""
    return (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode))


def _wanted_attrs(plan: dict[str, Any]) -> tuple[int, int, int]:
    return (plan["uid"], plan["gid"], plan["mode"])


def _check_parent(path: str, check_mode: bool, listed: set[str]) -> None:
    """A missing parent fails unless a directory listed before creates it, or in check mode,
    where an earlier task of the same run would have created it (as the copy module reports
    "would be created" there)."""
    if not os.path.isabs(path):
        raise ValueError(f"{path}: not an absolute path")
    parent = os.path.dirname(path)
    if not os.path.isdir(parent) and parent not in listed and not check_mode:
        raise ValueError(f"{path}: parent directory {parent} does not exist")


def _plan_dir(spec: dict[str, Any], listed: set[str]) -> dict[str, Any]:
    """Resolve one directory's wanted state and compare it with what is on disk (reads only).

    Missing parents are created with the same owner, group and mode, as the file module's
    state=directory does; an existing parent that is not a directory fails here.
    """
    path = os.path.normpath(spec["path"])
    if not os.path.isabs(path):
        raise ValueError(f"{path}: not an absolute path")
    wanted = _wanted(path, spec)
    missing: list[str] = []
    current = path
    while True:
        # followed, like the file module's state=directory (follow: true): a symlink to a
        # directory (a repository on another disk) is that directory
        try:
            st = os.stat(current)
        except (FileNotFoundError, NotADirectoryError):  # the latter: under a file, found above
            st = None
        if st is not None:
            if not stat.S_ISDIR(st.st_mode):
                raise ValueError(f"{current}: exists and is not a directory")
            break
        missing.insert(0, current)
        if current in listed or os.path.dirname(current) == current:
            break
        current = os.path.dirname(current)
    attrs = None if missing else _attrs(st)
    return {
        **wanted,
        "attrs": attrs,
        # listed earlier: created by that entry, not here
        "create": [m for m in missing if m not in listed],
        "changed": attrs != _wanted_attrs(wanted),
    }


def _plan(spec: dict[str, Any], check_mode: bool, listed: set[str]) -> dict[str, Any]:
    """Resolve one file's wanted state and compare it with what is on disk (reads only)."""
    path = spec["path"]
    _check_parent(path, check_mode, listed)
    plan = _wanted(path, spec)
    wanted = spec["content"].encode("utf-8")
    before: bytes | None = None
    attrs: tuple[int, int, int] | None = None
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    if st is not None:
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{path}: exists and is not a regular file")
        with open(path, "rb") as handle:
            before = handle.read()
        attrs = _attrs(st)
    return {
        **plan,
        "content": wanted,
        "before": before,
        "attrs": attrs,
        "secret": spec["secret"],
        "content_changed": before != wanted,
        "attrs_changed": attrs != _wanted_attrs(plan),
    }


def _write(plan: dict[str, Any]) -> None:
    """Replace the file atomically: temp file in the same directory, fsync, chown/chmod, rename."""
    directory = os.path.dirname(plan["path"])
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".coachdb_files.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(plan["content"])
            handle.flush()
            os.fsync(handle.fileno())
            os.fchown(handle.fileno(), plan["uid"], plan["gid"])
            os.fchmod(handle.fileno(), plan["mode"])
        os.replace(tmp, plan["path"])
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _describe(plan: dict[str, Any], attrs: tuple[int, int, int] | None) -> dict[str, str]:
    if attrs is None:
        return {"path": plan["path"], "state": "absent"}
    uid, gid, mode = attrs
    return {"path": plan["path"], "owner": str(uid), "group": str(gid), "mode": f"{mode:04o}"}


def _diffs(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """What --diff shows for one changed file: its texts (unless secret) and its attributes."""
    out: list[dict[str, Any]] = []
    if plan["content_changed"]:
        before = (plan["before"] or b"").decode("utf-8", "replace")
        after = plan["content"].decode("utf-8")
        shown = not plan["secret"]
        hidden = "(secret: content not shown)\n"
        out.append(
            {
                "before_header": plan["path"] if plan["before"] is not None else "(absent)",
                "after_header": plan["path"],
                "before": before if shown else hidden,
                "after": after if shown else hidden,
            }
        )
    if plan["attrs_changed"] and plan["attrs"] is not None:  # a new file: its text says it all
        out.append(
            {
                "before": _describe(plan, plan["attrs"]),
                "after": _describe(plan, _wanted_attrs(plan)),
            }
        )
    return out


def _make_dir(plan: dict[str, Any]) -> None:
    """Create the directory (and its missing parents) with owner, group and mode, or repair
    those of an existing one."""
    if plan["attrs"] is not None:
        os.chown(plan["path"], plan["uid"], plan["gid"])
        os.chmod(plan["path"], plan["mode"])
        return
    for path in plan["create"]:
        # a parent shared with an entry listed before was made by that entry
        if path != plan["path"] and os.path.isdir(path):
            continue
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            # made since this run looked (several hosts' runs delegated to one controller
            # write under one new parent at once): a parent is the other run's to set up, as
            # the file module lets it be; the directory itself is set up here all the same
            if not os.path.isdir(path):
                raise
            if path != plan["path"]:
                continue
        os.chown(path, plan["uid"], plan["gid"])
        os.chmod(path, plan["mode"])


def _dir_diff(plan: dict[str, Any]) -> dict[str, Any]:
    after = _describe(plan, _wanted_attrs(plan))
    return {"before": _describe(plan, plan["attrs"]), "after": {**after, "state": "directory"}}


ARGUMENT_SPEC: dict[str, Any] = {
    "directories": {"type": "list", "elements": "dict", "default": [], "options": _DIR_SPEC},
    "files": {"type": "list", "elements": "dict", "default": [], "options": _FILE_SPEC},
}


def _failed(msg: str, done: list[str] | None = None) -> dict[str, Any]:
    """The result of a run that stopped: before any write (``done`` None), or after writing
    ``done``, which stays reported."""
    if done is None:
        return {"failed": True, "msg": msg, "changed": False}
    return {"failed": True, "msg": msg, "changed": bool(done), "changed_files": done}


def converge(
    directories: list[dict[str, Any]], files: list[dict[str, Any]], check_mode: bool, diff: bool
) -> dict[str, Any]:
    """The whole run on validated arguments (ARGUMENT_SPEC): the module's result, with
    ``failed`` and ``msg`` where a path cannot be made what it must be.

    A function of its own so that the action plugin of the same name
    (action_plugins/coachdb_files.py) runs exactly this code in Ansible's worker process where
    the task runs on the controller, without a module run.
    """
    paths = [os.path.normpath(d["path"]) for d in directories]
    paths += [f["path"] for f in files]
    if len(set(paths)) != len(paths):
        return _failed("directories/files: a path is listed twice")
    listed: set[str] = set()
    dir_plans: list[dict[str, Any]] = []
    try:
        for spec in directories:
            dir_plans.append(_plan_dir(spec, listed))
            listed.add(dir_plans[-1]["path"])
        plans = [_plan(spec, check_mode, listed) for spec in files]
    except (ValueError, OSError) as exc:
        return _failed(str(exc))
    dirs_changing = [d for d in dir_plans if d["changed"]]
    changing = [p for p in plans if p["content_changed"] or p["attrs_changed"]]
    done: list[str] = []
    if not check_mode:
        for plan in dirs_changing:
            try:
                _make_dir(plan)
            except OSError as exc:
                return _failed(f"{plan['path']}: {exc}", done)
            done.append(plan["path"])
        for plan in changing:
            try:
                if plan["content_changed"]:
                    _write(plan)
                else:
                    os.chown(plan["path"], plan["uid"], plan["gid"])
                    os.chmod(plan["path"], plan["mode"])
            except OSError as exc:
                return _failed(f"{plan['path']}: {exc}", done)
            done.append(plan["path"])
    result: dict[str, Any] = {
        "changed": bool(dirs_changing or changing),
        "changed_files": [p["path"] for p in dirs_changing + changing],
    }
    if diff:
        result["diff"] = [_dir_diff(p) for p in dirs_changing]
        result["diff"] += [d for p in changing for d in _diffs(p)]
    return result


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    result = converge(
        module.params["directories"], module.params["files"], module.check_mode, module._diff
    )
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
