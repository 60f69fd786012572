"""The batch file module (roles/postgresql_config/library/coachdb_files.py) writes exactly what
it is given, atomically, with owner/group/mode; reports the truth in check mode and --diff;
changes nothing on a second run; and refuses bad input before its first write.

Fast: the module runs for real (as Ansible runs it on a host: a Python process reading its
arguments) against files in a temporary directory; no playbook, no container. Every test runs
a second time through what the action plugin of the same name does on the controller
(roles/postgresql_config/action_plugins/coachdb_files.py: the arguments validated against the
module's spec, then its ``converge`` in the calling process): both must behave alike.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.ansible.conftest import REPO, load_file

MODULE = REPO / "roles" / "postgresql_config" / "library" / "coachdb_files.py"
ACTION = REPO / "roles" / "postgresql_config" / "action_plugins" / "coachdb_files.py"
OTHER_USER = "nobody"
OTHER_GROUP = grp.getgrgid(pwd.getpwnam(OTHER_USER).pw_gid).gr_name


# Which way run() goes for the test running now (the autouse fixture below sets it).
_RUNNER = "module"


@pytest.fixture(autouse=True, params=["module", "worker"])
def runner(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(sys.modules[__name__], "_RUNNER", request.param)
    return str(request.param)


def run(
    tmp_path: Path,
    files: list[dict[str, Any]],
    check: bool = False,
    diff: bool = False,
    directories: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Run the module once with these files (a process, or the action plugin's in-process
    way); return its result (failed ones too)."""
    if _RUNNER == "worker":
        return _run_in_worker(files, check, diff, directories)
    args = {
        "ANSIBLE_MODULE_ARGS": {
            "files": files,
            **({"directories": directories} if directories is not None else {}),
            "_ansible_check_mode": check,
            "_ansible_diff": diff,
            "_ansible_tmpdir": str(tmp_path),
            "_ansible_remote_tmp": str(tmp_path),
            "_ansible_keep_remote_files": False,
        }
    }
    argfile = tmp_path / "args.json"
    argfile.write_text(json.dumps(args))
    proc = subprocess.run(
        [sys.executable, str(MODULE), str(argfile)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    argfile.unlink()
    return json.loads(proc.stdout)


def _run_in_worker(
    files: list[dict[str, Any]],
    check: bool,
    diff: bool,
    directories: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    """What the action plugin does where the task runs on the controller: the module file loaded
    by the plugin's own loader, the arguments validated against the module's spec (the
    validator ActionBase.validate_argument_spec uses; its error fails the task), converge()."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    module = load_file(ACTION, "coachdb_files_action")._load_module()
    args: dict[str, Any] = {"files": files}
    if directories is not None:
        args["directories"] = directories
    validated = ArgumentSpecValidator(module.ARGUMENT_SPEC).validate(args)
    if validated.error_messages:
        return {"failed": True, "msg": validated.errors.msg, "changed": False}
    params = validated.validated_parameters
    return dict(module.converge(params["directories"], params["files"], check, diff))


def meta(path: Path) -> tuple[str, str, str]:
    st = path.stat()
    return (
        pwd.getpwuid(st.st_uid).pw_name,
        grp.getgrgid(st.st_gid).gr_name,
        f"{stat.S_IMODE(st.st_mode):04o}",
    )


@pytest.fixture
def target(tmp_path: Path) -> Path:
    d = tmp_path / "etc"
    d.mkdir()
    return d


def test_writes_every_file_with_its_attributes_then_changes_nothing(
    tmp_path: Path, target: Path
) -> None:
    files = [
        {"path": str(target / "a.conf"), "content": "a = 1\n"},
        {
            "path": str(target / "b.conf"),
            "content": "b = ü\n",
            "owner": OTHER_USER,
            "group": OTHER_GROUP,
            "mode": "0640",
        },
    ]
    first = run(tmp_path, files)
    assert first["changed"] is True, first
    assert first["changed_files"] == [f["path"] for f in files]
    assert (target / "a.conf").read_text() == "a = 1\n"
    assert (target / "b.conf").read_text(encoding="utf-8") == "b = ü\n"
    assert meta(target / "a.conf") == ("root", "root", "0644")
    assert meta(target / "b.conf") == (OTHER_USER, OTHER_GROUP, "0640")
    again = run(tmp_path, files)
    assert again["changed"] is False and again["changed_files"] == [], again
    # no temporary file is left beside the files
    assert sorted(p.name for p in target.iterdir()) == ["a.conf", "b.conf"]


def test_replaces_content_atomically_by_rename(tmp_path: Path, target: Path) -> None:
    path = target / "a.conf"
    path.write_text("old\n")
    inode = path.stat().st_ino
    result = run(tmp_path, [{"path": str(path), "content": "new\n"}])
    assert result["changed"] is True
    assert path.read_text() == "new\n"
    # a new inode renamed over the old name: a reader holds either the old or the new file
    assert path.stat().st_ino != inode


def test_attributes_only_are_repaired_in_place(tmp_path: Path, target: Path) -> None:
    path = target / "a.conf"
    path.write_text("same\n")
    path.chmod(0o600)
    os.chown(path, pwd.getpwnam(OTHER_USER).pw_uid, -1)
    inode = path.stat().st_ino
    result = run(tmp_path, [{"path": str(path), "content": "same\n", "mode": "0644"}], diff=True)
    assert result["changed_files"] == [str(path)]
    assert meta(path) == ("root", "root", "0644")
    assert path.stat().st_ino == inode
    assert result["diff"] == [
        {
            "before": {"path": str(path), "owner": str(pwd.getpwnam(OTHER_USER).pw_uid),
                       "group": "0", "mode": "0600"},
            "after": {"path": str(path), "owner": "0", "group": "0", "mode": "0644"},
        }
    ]  # fmt: skip


def test_check_mode_predicts_exactly_and_writes_nothing(tmp_path: Path, target: Path) -> None:
    same, edited, new = target / "same.conf", target / "edited.conf", target / "new.conf"
    same.write_text("s\n")
    same.chmod(0o644)
    edited.write_text("edited by hand\n")
    edited.chmod(0o644)
    files = [
        {"path": str(same), "content": "s\n"},
        {"path": str(edited), "content": "wanted\n"},
        {"path": str(new), "content": "n\n"},
    ]
    result = run(tmp_path, files, check=True, diff=True)
    assert result["changed"] is True
    assert result["changed_files"] == [str(edited), str(new)]
    assert edited.read_text() == "edited by hand\n" and not new.exists()
    texts = [(d["before"], d["after"]) for d in result["diff"]]
    assert texts == [("edited by hand\n", "wanted\n"), ("", "n\n")]
    # the real run changes exactly what check mode predicted
    assert run(tmp_path, files)["changed_files"] == result["changed_files"]


def test_check_mode_reports_a_file_whose_directory_an_earlier_task_would_create(
    tmp_path: Path, target: Path
) -> None:
    path = target / "later" / "x.conf"
    result = run(tmp_path, [{"path": str(path), "content": "x\n"}], check=True)
    assert result["changed_files"] == [str(path)] and not path.parent.exists()
    # a real run refuses it (the task creating the directory must come first)
    assert "parent directory" in run(tmp_path, [{"path": str(path), "content": "x\n"}])["msg"]


def test_secret_file_texts_stay_out_of_the_diff(tmp_path: Path, target: Path) -> None:
    path = target / "secret.conf"
    path.write_text("password=old-value\n")
    result = run(
        tmp_path,
        [{"path": str(path), "content": "password=new-value\n", "secret": True}],
        check=True,
        diff=True,
    )
    assert result["changed"] is True
    assert "value" not in json.dumps(result["diff"])


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"owner": "no-such-user-coachdb"}, "owner no-such-user-coachdb does not exist"),
        ({"group": "no-such-group-coachdb"}, "group no-such-group-coachdb does not exist"),
        ({"mode": "rw-r--r--"}, "is not an octal number"),
        ({"path": "/nonexistent-coachdb-dir/x.conf"}, "parent directory /nonexistent-coachdb-dir"),
    ],
    ids=["owner", "group", "mode", "parent"],
)
def test_bad_input_fails_before_any_write(
    tmp_path: Path, target: Path, bad: dict[str, str], message: str
) -> None:
    good = target / "first.conf"
    files = [
        {"path": str(good), "content": "first\n"},
        {"path": str(target / "second.conf"), "content": "second\n", **bad},
    ]
    result = run(tmp_path, files)
    assert result.get("failed") is True, result
    assert message in result["msg"]
    # the first, valid file was not written either
    assert not good.exists()


def test_refuses_to_replace_a_directory(tmp_path: Path, target: Path) -> None:
    (target / "d").mkdir()
    result = run(tmp_path, [{"path": str(target / "d"), "content": "x\n"}])
    assert result.get("failed") is True and "not a regular file" in result["msg"]


def test_directories_are_made_first_in_order_then_nothing_changes(
    tmp_path: Path, target: Path
) -> None:
    outer, inner = target / "outer", target / "outer" / "inner"
    dirs = [
        {"path": str(outer), "owner": OTHER_USER, "group": OTHER_GROUP, "mode": "0750"},
        {"path": str(inner), "mode": "0700"},
    ]
    files = [{"path": str(inner / "x.conf"), "content": "x\n", "mode": "0600"}]
    # check mode: predicts the directories and the file inside them, creates nothing
    preview = run(tmp_path, files, check=True, diff=True, directories=dirs)
    assert preview["changed_files"] == [str(outer), str(inner), str(inner / "x.conf")], preview
    assert not outer.exists()
    assert preview["diff"][0]["before"] == {"path": str(outer), "state": "absent"}
    first = run(tmp_path, files, directories=dirs)
    assert first["changed_files"] == preview["changed_files"], first
    assert meta(outer) == (OTHER_USER, OTHER_GROUP, "0750")
    assert meta(inner) == ("root", "root", "0700")
    assert (inner / "x.conf").read_text() == "x\n"
    assert run(tmp_path, files, directories=dirs)["changed"] is False
    # missing parents are created with the directory's attributes (as the file module does)
    deep = target / "new" / "deeper" / "leaf"
    made = run(
        tmp_path, [], directories=[{"path": str(deep), "group": OTHER_GROUP, "mode": "0711"}]
    )
    assert made["changed_files"] == [str(deep)]
    assert (
        meta(deep) == meta(deep.parent) == meta(deep.parent.parent) == ("root", OTHER_GROUP, "0711")
    )
    # a directory whose mode was changed by hand is repaired in place, its files untouched
    outer.chmod(0o777)
    again = run(tmp_path, files, directories=dirs)
    assert again["changed_files"] == [str(outer)] and meta(outer)[2] == "0750"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"owner": "no-such-user-coachdb"}, "owner no-such-user-coachdb does not exist"),
        ({"path": "FILE"}, "exists and is not a directory"),
        ({"path": "FILE/sub"}, "plain: exists and is not a directory"),
    ],
    ids=["owner", "file", "parent-is-a-file"],
)
def test_bad_directory_fails_before_any_write(
    tmp_path: Path, target: Path, bad: dict[str, str], message: str
) -> None:
    (target / "plain").write_text("a file\n")
    if "path" in bad:
        bad = {**bad, "path": bad["path"].replace("FILE", str(target / "plain"))}
    good = target / "first"
    dirs = [{"path": str(good)}, {"path": str(target / "second"), **bad}]
    result = run(tmp_path, [{"path": str(target / "f.conf"), "content": "f\n"}], directories=dirs)
    assert result.get("failed") is True, result
    assert message in result["msg"]
    assert not good.exists() and not (target / "f.conf").exists()


def test_a_parent_made_meanwhile_by_another_run_is_no_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two hosts' runs delegated to one controller create the same missing parent at once
    (postgresql_tls's CA copies under .secrets/<host>/): the run that loses the race to make the
    shared parent goes on and sets up its own directory (Molecule default failed with EEXIST)."""
    module = load_file(MODULE, "coachdb_files")
    shared, own = tmp_path / "secrets", tmp_path / "secrets" / "host"
    user, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    wanted = {"path": str(own), "owner": user, "group": group, "mode": "0700"}
    plan = module._plan_dir(wanted, set())
    assert plan["create"] == [str(shared), str(own)]
    isdir = os.path.isdir

    def other_run_wins(path: str) -> bool:
        """The other run makes the shared parent right after this run looked for it."""
        seen = isdir(path)
        if path == str(shared) and not seen:
            shared.mkdir(mode=0o755)
        return seen

    monkeypatch.setattr(os.path, "isdir", other_run_wins)
    module._make_dir(plan)
    monkeypatch.undo()
    assert stat.S_IMODE(own.stat().st_mode) == 0o700
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755  # the other run's to set up
