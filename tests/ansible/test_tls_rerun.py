"""Role postgresql_tls: a re-run reads once and generates nothing, yet every drift is repaired.

Why: the role skips its community.crypto generation modules when its one read-only probe
(library/coachdb_tls_facts.py) finds the material as wanted. A skip must never hide a needed
change, so each case below breaks the material (or changes an input) the way an operator or
time would, then proves check mode reports the change without making it, and a real run makes
it: the files verify again, and PostgreSQL's reload is notified where the server must re-read
them. Runs the role alone against this machine (local connection), each case in a scratch
directory of its own: one inventory host per case, so the whole set costs three playbook runs
(issue, check, repair) instead of two per case. Each case reads only its own host's results
(recap counters, task and handler lines, files), so a skip that hides one kind of drift still
turns exactly that case red; and only the selected tests' hosts take part (one case alone
runs only its host).
"""

from __future__ import annotations

import datetime
import json
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.certs import self_signed
from tests.support.playbook import PlayRun, run_playbook, selected_tests

PLAYBOOK = Path(__file__).parent / "playbooks" / "tls_alone.yml"
GENERATION = "Generate | Server certificate signed by the CA"

pytestmark = pytest.mark.slow


def _spki(public_key: Any) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _new_key(path: Path, curve: ec.EllipticCurve) -> None:
    """Replace a key file's content, keeping its owner and mode (an operator's mistake)."""
    key = ec.generate_private_key(curve)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


class Material:
    """One case's scratch directory (its inventory host's ``tls_work``)."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.tls = work / "tls"
        self.ca_key = work / "ca" / "ca.key"
        self.ca_cert = self.tls / "ca.crt"
        self.key = self.tls / "server.key"
        self.cert = self.tls / "server.crt"
        self.controller_ca = work / "controller" / "ca.crt"

    def snapshot(self) -> dict[str, tuple[bytes, int]]:
        return {
            str(p): (p.read_bytes(), stat.S_IMODE(p.stat().st_mode))
            for p in (self.ca_key, self.ca_cert, self.key, self.cert, self.controller_ca)
            if p.exists()
        }

    def assert_sound(self, extra_sans: tuple[str, ...] = (), renew_days: int = 30) -> None:
        """What clients and PostgreSQL need: matching keys, a chain that verifies, the SANs."""
        ca, server = _cert(self.ca_cert), _cert(self.cert)
        ca_key = serialization.load_pem_private_key(self.ca_key.read_bytes(), None)
        key = serialization.load_pem_private_key(self.key.read_bytes(), None)
        assert _spki(ca.public_key()) == _spki(ca_key.public_key()), "CA cert/key mismatch"
        assert _spki(server.public_key()) == _spki(key.public_key()), "server cert/key mismatch"
        ca_public = ca.public_key()
        assert isinstance(ca_public, ec.EllipticCurvePublicKey)
        assert server.signature_hash_algorithm is not None
        ca_public.verify(
            server.signature,
            server.tbs_certificate_bytes,
            ec.ECDSA(server.signature_hash_algorithm),
        )
        sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = set(sans.get_values_for_type(x509.DNSName))
        assert {"localhost", *extra_sans} <= names, names
        end = server.not_valid_after_utc
        assert end > datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=renew_days)
        assert stat.S_IMODE(self.key.stat().st_mode) == 0o600
        assert stat.S_IMODE(self.ca_key.stat().st_mode) == 0o600
        assert self.controller_ca.read_bytes().strip() == self.ca_cert.read_bytes().strip()


def _replace_server_key(m: Material) -> None:
    _new_key(m.key, ec.SECP256R1())


def _replace_ca_key(m: Material) -> None:
    _new_key(m.ca_key, ec.SECP384R1())


def _server_key_wrong_curve(m: Material) -> None:
    _new_key(m.key, ec.SECP384R1())


def _delete_server_cert(m: Material) -> None:
    m.cert.unlink()


def _delete_ca_cert(m: Material) -> None:
    m.ca_cert.unlink()


def _open_server_key(m: Material) -> None:
    m.key.chmod(0o644)


def _foreign_server_cert(m: Material) -> None:
    """A certificate for the same key, self-signed: not issued by the host's CA."""
    key = serialization.load_pem_private_key(m.key.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    now = datetime.datetime.now(datetime.UTC)
    _, cert = self_signed("localhost", now, now + datetime.timedelta(days=365), key=key)
    m.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _edit_controller_copy(m: Material) -> None:
    m.controller_ca.write_text("not the CA\n")


def _nothing(m: Material) -> None:
    pass


# (id, break, extra variables of the check and repair runs, reload required, SANs the result
# must hold)
CASES: list[tuple[str, Callable[[Material], None], dict[str, Any], bool, tuple[str, ...]]] = [
    ("server-key-replaced", _replace_server_key, {}, True, ()),
    ("server-key-wrong-curve", _server_key_wrong_curve, {}, True, ()),
    ("server-cert-deleted", _delete_server_cert, {}, True, ()),
    ("server-cert-not-from-the-ca", _foreign_server_cert, {}, True, ()),
    ("server-key-mode-opened", _open_server_key, {}, False, ()),
    ("ca-cert-deleted", _delete_ca_cert, {}, False, ()),
    ("ca-key-replaced", _replace_ca_key, {}, True, ()),
    ("controller-copy-edited", _edit_controller_copy, {}, False, ()),
    (
        "inside-renewal-window",
        _nothing,
        {"postgresql_tls_server_valid_days": 800, "postgresql_tls_renew_days": 400},
        True,
        (),
    ),
    (
        "san-added",
        _nothing,
        {"postgresql_tls_extra_sans": ["added.example"]},
        True,
        ("added.example",),
    ),
]


UNCHANGED = "unchanged"  # the host no case breaks: the plain re-run


SECTION = re.compile(r"^(?:TASK|RUNNING HANDLER) \[(?P<title>.*)\] \**$", re.MULTILINE)
RESULT = re.compile(r"^(?P<status>ok|changed|skipping|failed|fatal): \[(?P<host>[^\]\s]+)", re.M)


def statuses(run: PlayRun, title: str) -> dict[str, set[str]]:
    """Host -> its results (ok, changed, ...) under every task or handler titled ``title``."""
    heads = list(SECTION.finditer(run.output))
    found: dict[str, set[str]] = {}
    for head, after in zip(heads, [*heads[1:], None], strict=True):
        if title not in head["title"]:
            continue
        body = run.output[head.end() : after.start() if after else None].split("PLAY RECAP")[0]
        for result in RESULT.finditer(body):
            found.setdefault(result["host"], set()).add(result["status"])
    return found


def reloaded(run: PlayRun) -> set[str]:
    """The hosts whose stand-in for PostgreSQL's reload ran (tls_alone.yml's handler)."""
    return set(statuses(run, "Stand in for PostgreSQL's reload"))


class Runs:
    """Every case's material, issued once and then checked and repaired in one run each."""

    def __init__(self, root: Path, cases: dict[str, dict[str, Any]]) -> None:
        self.root = root
        self.cases = cases
        self.material = {name: Material(root / name) for name in cases}

    def play(self, *args: str, with_case_variables: bool) -> PlayRun:
        hosts = {
            name: {
                "tls_work": str(m.work),
                **(self.cases[name] if with_case_variables else {}),
            }
            for name, m in self.material.items()
        }
        inventory = self.root / ("cases.yml" if with_case_variables else "issue.yml")
        inventory.write_text(json.dumps({"all": {"hosts": hosts}}))  # JSON is YAML
        extra = {"ansible_python_interpreter": "/usr/bin/python3"}
        return run_playbook(
            PLAYBOOK, extra, "--forks", str(len(hosts)), *args, inventory=str(inventory)
        )


def _selected_cases(session: pytest.Session) -> set[str]:
    """The hosts the selected tests of this module read: one case alone runs only its host.

    Each case reads only its own host's results, so leaving the others out changes nothing
    for it (the mutation check names one case; the whole play cost it minutes).
    """
    wanted: set[str] = set()
    for name, params in selected_tests(session.items, __name__):
        if name == "test_rerun_reads_once_and_changes_nothing":
            wanted.add(UNCHANGED)
        elif "case" in params:
            wanted.add(str(params["case"]))
    return wanted


@pytest.fixture(scope="module")
def runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """Issue every case's material, break each its own way, then check, then repair."""
    if os.geteuid() != 0:
        pytest.skip("the role sets root/postgres ownership: run as root (make test does)")
    wanted = _selected_cases(request.session)
    every = {UNCHANGED: {}, **{case[0]: case[2] for case in CASES}}
    cases = {name: variables for name, variables in every.items() if name in wanted}
    all_runs = Runs(tmp_path_factory.mktemp("tls"), cases)
    # Each case issues its own material: the CA's and the server's names carry the host's name
    first = all_runs.play(with_case_variables=False)
    assert first.rc == 0, first.output[-4000:]
    for name, m in all_runs.material.items():
        assert first.recap(name)["changed"] > 0, name
        m.assert_sound()
    breakers = {case[0]: case[1] for case in CASES}
    before: dict[str, dict[str, tuple[bytes, int]]] = {}
    for name, m in all_runs.material.items():
        breakers.get(name, _nothing)(m)
        before[name] = m.snapshot()
    check = all_runs.play("--check", with_case_variables=True)
    after_check = {name: m.snapshot() for name, m in all_runs.material.items()}
    fixed = all_runs.play(with_case_variables=True)
    return {
        "material": all_runs.material,
        "before": before,
        "check": check,
        "after_check": after_check,
        "fixed": fixed,
        "after_fix": {name: m.snapshot() for name, m in all_runs.material.items()},
    }


def _no_failure(run: PlayRun, host: str) -> dict[str, int]:
    recap = run.recap(host)
    assert recap["failed"] == 0 and recap["unreachable"] == 0, run.output[-4000:]
    return recap


def test_rerun_reads_once_and_changes_nothing(runs: dict[str, Any]) -> None:
    check, fixed = runs["check"], runs["fixed"]
    assert _no_failure(check, UNCHANGED)["changed"] == 0, check.output[-3000:]
    assert _no_failure(fixed, UNCHANGED)["changed"] == 0, fixed.output[-3000:]
    generated = statuses(fixed, GENERATION)
    assert UNCHANGED not in generated, "the generation modules ran although nothing differs"
    assert UNCHANGED not in reloaded(fixed)
    assert runs["after_check"][UNCHANGED] == runs["before"][UNCHANGED]
    assert runs["after_fix"][UNCHANGED] == runs["before"][UNCHANGED]


@pytest.mark.parametrize(
    ("case", "variables", "reload", "sans"),
    [pytest.param(case[0], *case[2:], id=case[0]) for case in CASES],
)
def test_drift_is_predicted_then_repaired(
    runs: dict[str, Any],
    case: str,
    variables: dict[str, Any],
    reload: bool,
    sans: tuple[str, ...],
) -> None:
    check, fixed = runs["check"], runs["fixed"]
    assert _no_failure(check, case)["changed"] > 0, (
        "check mode did not predict the change:\n" + check.output[-3000:]
    )
    assert runs["after_check"][case] == runs["before"][case], "check mode changed files"
    assert _no_failure(fixed, case)["changed"] > 0, fixed.output[-3000:]
    if reload:  # the server must re-read its certificate or key
        assert case in reloaded(fixed), fixed.output[-3000:]
    runs["material"][case].assert_sound(sans, int(variables.get("postgresql_tls_renew_days", 30)))
