#!/usr/bin/python
"""Read-only: what the role's TLS files on the host are, in one module execution.

Why: the generation modules (community.crypto) each cost a round trip to the host even when
nothing changes. This module reads every file of the role at once; the role compares the
result with what it wants (tasks/main.yml) and runs the generation modules only when
something differs: a missing or unreadable file, owner/group/mode, key type, a key that does
not belong to its certificate, subject, issuer, extensions (SANs included), a signature the
CA key does not verify, or an expiry inside the renewal window.
"""

from __future__ import annotations

import grp
import hashlib
import ipaddress
import os
import pwd
from typing import Any

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: coachdb_tls_facts
short_description: Read the TLS files of role postgresql_tls (reads only)
description:
  - For each path, its type, owner, group, mode and (files) SHA-1; for keys the curve and
    public key; for certificates the subject, issuer, extensions, public key, expiry and
    which of the given certificates' keys verifies its signature.
options:
  paths:
    description: Files and directories to describe (missing ones are left out).
    type: list
    elements: path
    required: true
  keys:
    description: Paths among I(paths) that hold PEM private keys.
    type: list
    elements: path
    default: []
  certs:
    description: Paths among I(paths) that hold PEM certificates.
    type: list
    elements: path
    default: []
  with_content:
    description: Certificates whose PEM text is returned (public data, e.g. the CA).
    type: list
    elements: path
    default: []
"""


def _public_fingerprint(public_key: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def _key(path: str) -> dict[str, Any]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    with open(path, "rb") as handle:
        key = serialization.load_pem_private_key(handle.read(), password=None)
    curve = key.curve.name if isinstance(key, ec.EllipticCurvePrivateKey) else type(key).__name__
    return {"curve": curve, "public": _public_fingerprint(key.public_key())}


def _general_name(name: Any) -> str:
    from cryptography import x509

    if isinstance(name, x509.DNSName):
        return "DNS:" + name.value
    if isinstance(name, x509.IPAddress):
        return "IP:" + str(ipaddress.ip_address(name.value))
    return type(name).__name__ + ":" + str(getattr(name, "value", ""))


def _extensions(cert: Any) -> dict[str, str]:
    """Each extension but the key identifiers, as a comparable string."""
    from cryptography import x509

    out: dict[str, str] = {}
    for ext in cert.extensions:
        value = ext.value
        prefix = "critical," if ext.critical else ""
        if isinstance(value, (x509.SubjectKeyIdentifier, x509.AuthorityKeyIdentifier)):
            continue
        if isinstance(value, x509.BasicConstraints):
            text = "CA:TRUE" if value.ca else "CA:FALSE"
            if value.path_length is not None:
                text += f",pathlen:{value.path_length}"
            out["basicConstraints"] = prefix + text
        elif isinstance(value, x509.KeyUsage):
            usages = []
            for attr in (
                "digital_signature", "content_commitment", "key_encipherment",
                "data_encipherment", "key_agreement", "key_cert_sign", "crl_sign",
            ):  # fmt: skip
                if getattr(value, attr):
                    usages.append(attr)
            if value.key_agreement:
                usages += [a for a in ("encipher_only", "decipher_only") if getattr(value, a)]
            out["keyUsage"] = prefix + ",".join(usages)
        elif isinstance(value, x509.ExtendedKeyUsage):
            out["extendedKeyUsage"] = prefix + ",".join(sorted(o.dotted_string for o in value))
        elif isinstance(value, x509.SubjectAlternativeName):
            out["subjectAltName"] = prefix + ",".join(sorted(_general_name(n) for n in value))
        else:
            out[ext.oid.dotted_string] = prefix + "present"
    return out


def _not_after(cert: Any) -> int:
    stamp = getattr(cert, "not_valid_after_utc", None)
    if stamp is None:  # cryptography < 42 (Debian 12): a naive UTC datetime
        import datetime

        stamp = cert.not_valid_after.replace(tzinfo=datetime.UTC)
    return int(stamp.timestamp())


def _verified_by(cert: Any, issuers: dict[str, Any]) -> str:
    """The path of the certificate whose (EC) key verifies this certificate's signature."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ec

    for path, issuer in issuers.items():
        public = issuer.public_key()
        if not isinstance(public, ec.EllipticCurvePublicKey):
            continue
        try:
            public.verify(
                cert.signature,
                cert.tbs_certificate_bytes,
                ec.ECDSA(cert.signature_hash_algorithm),
            )
        except InvalidSignature:
            continue
        return path
    return ""


def _names(name: Any) -> list[list[str]]:
    return [[attr.oid.dotted_string, str(attr.value)] for attr in name]


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "paths": {"type": "list", "elements": "path", "required": True},
            "keys": {"type": "list", "elements": "path", "default": []},
            "certs": {"type": "list", "elements": "path", "default": []},
            "with_content": {"type": "list", "elements": "path", "default": []},
        },
        supports_check_mode=True,
    )
    try:
        from cryptography import x509
    except ImportError:
        module.fail_json(msg="coachdb_tls_facts needs the Python cryptography library on the host")

    files: dict[str, str] = {}
    for path in module.params["paths"]:
        try:
            info = os.stat(path)
        except OSError:
            continue
        kind = "directory" if os.path.isdir(path) else "file"
        try:
            owner = pwd.getpwuid(info.st_uid).pw_name
        except KeyError:
            owner = str(info.st_uid)
        try:
            group = grp.getgrgid(info.st_gid).gr_name
        except KeyError:
            group = str(info.st_gid)
        files[path] = f"{kind}|{owner}|{group}|{info.st_mode & 0o7777:o}"
        if kind == "file":
            try:
                with open(path, "rb") as handle:
                    files[path] += "|" + hashlib.sha1(handle.read()).hexdigest()  # noqa: S324
            except OSError:
                files[path] += "|unreadable"

    keys: dict[str, Any] = {}
    for path in module.params["keys"]:
        if path in files:
            try:
                keys[path] = _key(path)
            except (OSError, ValueError, TypeError) as exc:
                keys[path] = {"error": type(exc).__name__}

    loaded: dict[str, Any] = {}
    contents: dict[str, str] = {}
    for path in module.params["certs"]:
        if path in files:
            try:
                with open(path, "rb") as handle:
                    data = handle.read()
                loaded[path] = x509.load_pem_x509_certificate(data)
                if path in module.params["with_content"]:
                    contents[path] = data.decode("ascii")
            except (OSError, ValueError) as exc:
                loaded[path] = exc
    certs: dict[str, Any] = {}
    issuers = {p: c for p, c in loaded.items() if not isinstance(c, Exception)}
    for path, cert in loaded.items():
        if isinstance(cert, Exception):
            certs[path] = {"error": type(cert).__name__}
            continue
        certs[path] = {
            "subject": _names(cert.subject),
            "issuer": _names(cert.issuer),
            "public": _public_fingerprint(cert.public_key()),
            "extensions": _extensions(cert),
            "not_after": _not_after(cert),
            "verified_by": _verified_by(cert, issuers),
        }
        if path in contents:
            certs[path]["content"] = contents[path]
    module.exit_json(changed=False, files=files, keys=keys, certs=certs)


if __name__ == "__main__":
    main()
