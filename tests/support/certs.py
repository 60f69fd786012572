"""Throw-away self-signed certificates for tests (a certificate to read, a foreign CA).

Why one helper: several suites need "some valid self-signed EC certificate with these
dates" and had each spelled out the same x509 builder chain; the dates and the CA flag are
what differ, so they are the parameters.
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed(
    common_name: str,
    not_before: dt.datetime,
    not_after: dt.datetime,
    *,
    ca: bool = False,
    key: ec.EllipticCurvePrivateKey | None = None,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A P-256 key (fresh unless ``key`` is given) and a certificate it signed itself
    (``ca``: BasicConstraints CA).

    The key comes back for a CA that signs further certificates; an existing ``key`` gives a
    certificate that matches a key already on disk but was issued by nobody else.
    """
    key = key or ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    if ca:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=True, path_length=None), critical=True
        )
    return key, builder.sign(key, hashes.SHA256())


def self_signed_pem(
    common_name: str, not_before: dt.datetime, not_after: dt.datetime, *, ca: bool = False
) -> bytes:
    """:func:`self_signed`'s certificate as PEM (the key is thrown away)."""
    _, cert = self_signed(common_name, not_before, not_after, ca=ca)
    return cert.public_bytes(serialization.Encoding.PEM)
