"""A private CA and a server certificate for PostgreSQL, from pulumi-tls.

Why our own CA rather than a self-signed server certificate: clients pin the
CA (``sslrootcert``) and use ``sslmode=verify-full``; the server certificate can
then be re-issued (new SANs, expiry) without touching any client. The CA key
lives only in the (encrypted) Pulumi state.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_tls as tls

SERVER_USES = ["digital_signature", "key_encipherment", "server_auth"]
CA_USES = ["cert_signing", "crl_signing", "digital_signature"]


@dataclass
class ServerTls:
    ca_cert_pem: pulumi.Output[str]
    cert_pem: pulumi.Output[str]
    key_pem: pulumi.Output[str]  # always a secret Output


def split_sans(names: list[str]) -> tuple[list[str], list[str]]:
    """Sort names into (DNS names, IP addresses), de-duplicated, order kept.

    libpq's verify-full compares an IP the client dialled with IP SANs only,
    so 127.0.0.1 must be an IP SAN, not a DNS one.
    """
    dns: list[str] = []
    ips: list[str] = []
    for name in names:
        try:
            ip = str(ipaddress.ip_address(name))
        except ValueError:
            if name.lower() not in dns:
                dns.append(name.lower())
            continue
        if ip not in ips:
            ips.append(ip)
    return dns, ips


def issue(
    prefix: str,
    common_name: pulumi.Input[str],
    sans: Sequence[pulumi.Input[str]],
    cert_validity_days: pulumi.Input[int],
    ca_validity_days: pulumi.Input[int],
    opts: pulumi.ResourceOptions | None = None,
    ca_common_name: str | None = None,
) -> ServerTls:
    """Declare the CA and the server certificate for ``sans``.

    Every argument but ``prefix`` may be a Pulumi input: ``sans`` may hold outputs (a
    Railway TCP proxy's domain is known only once the proxy exists), sorted into DNS
    and IP SANs once resolved. ``opts`` (e.g. the target component as parent) applies
    to every resource. ``ca_common_name`` defaults to "<prefix> PostgreSQL CA".
    """
    cert_days = pulumi.Output.from_input(cert_validity_days)
    ca_hours = pulumi.Output.from_input(ca_validity_days).apply(lambda days: int(days) * 24)
    ca_key = tls.PrivateKey(f"{prefix}-ca-key", algorithm="ECDSA", ecdsa_curve="P256", opts=opts)
    ca_cert = tls.SelfSignedCert(
        f"{prefix}-ca-cert",
        private_key_pem=pulumi.Output.secret(ca_key.private_key_pem),
        is_ca_certificate=True,
        subject=tls.SelfSignedCertSubjectArgs(
            common_name=ca_common_name or f"{prefix} PostgreSQL CA",
            organization="Elite Trading Coach AI",
        ),
        validity_period_hours=ca_hours,
        allowed_uses=CA_USES,
        opts=opts,
    )
    server_key = tls.PrivateKey(
        f"{prefix}-server-key", algorithm="ECDSA", ecdsa_curve="P256", opts=opts
    )
    names = pulumi.Output.all(*sans).apply(lambda resolved: split_sans([str(n) for n in resolved]))
    dns = names.apply(lambda split: split[0])
    ips = names.apply(lambda split: split[1])  # libpq matches a dialled IP against IP SANs only
    csr = tls.CertRequest(
        f"{prefix}-server-csr",
        private_key_pem=pulumi.Output.secret(server_key.private_key_pem),
        subject=tls.CertRequestSubjectArgs(
            common_name=common_name, organization="Elite Trading Coach AI"
        ),
        dns_names=dns,
        ip_addresses=ips,
        opts=opts,
    )
    cert = tls.LocallySignedCert(
        f"{prefix}-server-cert",
        cert_request_pem=csr.cert_request_pem,
        ca_private_key_pem=pulumi.Output.secret(ca_key.private_key_pem),
        ca_cert_pem=ca_cert.cert_pem,
        validity_period_hours=cert_days.apply(lambda days: int(days) * 24),
        # Re-issued by the `pulumi up` that runs within 30 days of expiry.
        early_renewal_hours=cert_days.apply(lambda days: min(30 * 24, int(days) * 12)),
        allowed_uses=SERVER_USES,
        opts=opts,
    )
    return ServerTls(
        ca_cert_pem=ca_cert.cert_pem,
        cert_pem=cert.cert_pem,
        key_pem=pulumi.Output.secret(server_key.private_key_pem),
    )
