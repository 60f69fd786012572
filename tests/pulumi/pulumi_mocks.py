"""Run the Pulumi program under Pulumi's mock runtime and record what it declares.

Why a recording monitor: the mock ``new_resource`` hook sees inputs but not the
resource options (protect, retain_on_delete, delete_before_replace, provider),
and it sees secrets already unwrapped. The monitor below keeps the raw
registration, so tests can assert options and which inputs travel as secrets.

The tls and random mocks do the real work (cryptography, secrets), so the
certificate the program declares is a real one with the SANs it asked for, and
the real-container proof can do real TLS handshakes against it.
"""

from __future__ import annotations

import asyncio
import datetime
import importlib.metadata
import ipaddress
import runpy
import secrets
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pulumi
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc

REPO = Path(__file__).resolve().parents[2]
PROGRAM = REPO / "pulumi" / "__main__.py"
PROJECT = "coachdb"

# Documented API used here: pulumi.runtime.Mocks, set_mocks (its ``monitor`` argument),
# set_all_config and the pulumi.runtime.test decorator, which runs the program and waits for
# every registration. Not documented, so pinned: the mock monitor's RegisterResource hook
# (the engine's gRPC method), rpc.deserialize_properties and the secret marker constants
# below. They were checked against this pulumi release; on an upgrade re-check them, then
# move the pin (requirements/requirements.in pins pulumi to the same version).
PULUMI_CHECKED = "3.272.0"
_installed = importlib.metadata.version("pulumi")
if _installed != PULUMI_CHECKED:
    raise ImportError(
        f"tests/pulumi/pulumi_mocks.py uses Pulumi internals checked against pulumi "
        f"{PULUMI_CHECKED}, but {_installed} is installed: re-check them and update PULUMI_CHECKED"
    )
SECRET_SIG = rpc._special_sig_key


def is_secret_value(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIG) == rpc._special_secret_sig


def unwrap(value: Any) -> Any:
    """Input values with every secret marker removed."""
    if is_secret_value(value):
        return unwrap(value["value"])
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def contains_secret(value: Any) -> bool:
    if is_secret_value(value):
        return True
    if isinstance(value, dict):
        return any(contains_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_secret(v) for v in value)
    return False


@dataclass
class Registration:
    typ: str
    name: str
    raw_inputs: dict[str, Any]  # secrets still wrapped
    protect: bool
    retain_on_delete: bool
    delete_before_replace: bool
    provider: str
    urn: str = ""
    parent: str = ""  # the parent's URN ("" for a resource at the top of the stack)
    aliases: list[str] = field(default_factory=list)  # each alias resolved to the URN it names

    @property
    def inputs(self) -> dict[str, Any]:
        return unwrap(self.raw_inputs)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _name(subject: dict[str, Any] | None) -> x509.Name:
    subject = subject or {}
    attrs = []
    if subject.get("organization"):
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, subject["organization"]))
    if subject.get("commonName"):
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, subject["commonName"]))
    return x509.Name(attrs)


def _sans(dns: list[str] | None, ips: list[str] | None) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns or []]
    names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips or []]
    return x509.SubjectAlternativeName(names)


# pulumi-tls's ``allowed_uses`` names -> the X.509 extensions they turn on.
KEY_USAGE_BITS = {
    "digital_signature": "digital_signature",
    "content_commitment": "content_commitment",
    "key_encipherment": "key_encipherment",
    "data_encipherment": "data_encipherment",
    "key_agreement": "key_agreement",
    "cert_signing": "key_cert_sign",
    "crl_signing": "crl_sign",
    "encipher_only": "encipher_only",
    "decipher_only": "decipher_only",
}
EXTENDED_USAGES = {
    "server_auth": ExtendedKeyUsageOID.SERVER_AUTH,
    "client_auth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "code_signing": ExtendedKeyUsageOID.CODE_SIGNING,
    "email_protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "timestamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "ocsp_signing": ExtendedKeyUsageOID.OCSP_SIGNING,
}


def _with_usages(builder: x509.CertificateBuilder, allowed: list[str]) -> x509.CertificateBuilder:
    """Key usage and extended key usage from ``allowedUses``, as the tls provider derives them.

    An unknown name fails the test run rather than being dropped silently.
    """
    unknown = [u for u in allowed if u not in KEY_USAGE_BITS and u not in EXTENDED_USAGES]
    assert not unknown, f"allowedUses not modelled by the mock: {unknown}"
    bits = {bit: False for bit in KEY_USAGE_BITS.values()}
    bits.update({KEY_USAGE_BITS[u]: True for u in allowed if u in KEY_USAGE_BITS})
    if any(bits.values()):
        builder = builder.add_extension(x509.KeyUsage(**bits), True)
    extended = [EXTENDED_USAGES[u] for u in allowed if u in EXTENDED_USAGES]
    if extended:
        builder = builder.add_extension(x509.ExtendedKeyUsage(extended), False)
    return builder


class CoachdbMocks(pulumi.runtime.Mocks):
    """Provider stand-ins: real keys and certificates, real random passwords."""

    # what the engine assigns a network without an IPAM config (tests may pass a real one)
    NETWORK_IPAM: ClassVar[dict[str, str]] = {"subnet": "172.30.0.0/16", "gateway": "172.30.0.1"}

    def __init__(self, network_ipam: dict[str, str] | None = None) -> None:
        self.passwords: dict[str, str] = {}
        self.network_ipam = network_ipam or self.NETWORK_IPAM

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = unwrap(args.inputs)
        state = dict(inputs)
        typ = args.typ
        now = datetime.datetime.now(datetime.UTC)
        if typ == "tls:index/privateKey:PrivateKey":
            key = ec.generate_private_key(ec.SECP256R1())
            state["privateKeyPem"] = _pem_key(key)
            state["publicKeyPem"] = (
                key.public_key()
                .public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
                .decode()
            )
        elif typ == "tls:index/selfSignedCert:SelfSignedCert":
            key = serialization.load_pem_private_key(inputs["privateKeyPem"].encode(), None)
            name = _name(inputs.get("subject"))
            builder = (
                x509.CertificateBuilder()
                .subject_name(name)
                .issuer_name(name)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(hours=inputs["validityPeriodHours"]))
                .add_extension(
                    x509.BasicConstraints(ca=bool(inputs.get("isCaCertificate")), path_length=None),
                    True,
                )
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            )
            builder = _with_usages(builder, list(inputs.get("allowedUses") or []))
            cert = builder.sign(key, hashes.SHA256())
            state["certPem"] = cert.public_bytes(serialization.Encoding.PEM).decode()
        elif typ == "tls:index/certRequest:CertRequest":
            key = serialization.load_pem_private_key(inputs["privateKeyPem"].encode(), None)
            csr = (
                x509.CertificateSigningRequestBuilder()
                .subject_name(_name(inputs.get("subject")))
                .add_extension(_sans(inputs.get("dnsNames"), inputs.get("ipAddresses")), False)
                .sign(key, hashes.SHA256())
            )
            state["certRequestPem"] = csr.public_bytes(serialization.Encoding.PEM).decode()
        elif typ == "tls:index/locallySignedCert:LocallySignedCert":
            csr = x509.load_pem_x509_csr(inputs["certRequestPem"].encode())
            ca_cert = x509.load_pem_x509_certificate(inputs["caCertPem"].encode())
            ca_key = serialization.load_pem_private_key(inputs["caPrivateKeyPem"].encode(), None)
            sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            builder = (
                x509.CertificateBuilder()
                .subject_name(csr.subject)
                .issuer_name(ca_cert.subject)
                .public_key(csr.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(hours=inputs["validityPeriodHours"]))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
                .add_extension(sans, False)
                .add_extension(
                    x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
                )
            )
            builder = _with_usages(builder, list(inputs["allowedUses"]))
            state["certPem"] = (
                builder.sign(ca_key, hashes.SHA256())
                .public_bytes(serialization.Encoding.PEM)
                .decode()
            )
        elif typ == "random:index/randomPassword:RandomPassword":
            alphabet = string.ascii_letters + string.digits
            value = "".join(secrets.choice(alphabet) for _ in range(int(inputs["length"])))
            self.passwords[args.name] = value
            state["result"] = value
        elif typ == "docker:index/network:Network" and not inputs.get("ipamConfigs"):
            state["ipamConfigs"] = [dict(self.network_ipam)]
        elif typ == "docker:index/remoteImage:RemoteImage":
            state["imageId"] = "sha256:" + "0" * 64
            state["repoDigest"] = inputs["name"]
        return f"{args.name}-id", state

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[Any]] | dict[str, Any]:
        return {}


# The Railway dynamic resources: what their providers compute on create.
RAILWAY_TOKEN = "railway-account-token-for-mocks-0123456789"  # pragma: allowlist secret
DYN = "pulumi-python:dynamic/railway:"
PROXY_DOMAIN = "shinkansen.proxy.rlwy.net"
GREEN_PROXY_DOMAIN = "maglev.proxy.rlwy.net"
PROXY_PORT = 41234


class RailwayMocks(CoachdbMocks):
    """Adds what the Railway providers compute on create."""

    def new_resource(self, args):
        if not args.typ.startswith(DYN):
            return super().new_resource(args)
        state = unwrap(dict(args.inputs))
        kind = args.typ[len(DYN) :]
        # the green side of a blue/green stack gets its own ids and proxy, as on Railway
        n, proxy = (2, GREEN_PROXY_DOMAIN) if args.name.endswith("-green") else (1, PROXY_DOMAIN)
        computed = {
            "Project": {"project_id": "prj-1", "adopted": False, "environment_ids": {}},
            "Environment": {"environment_id": "env-1", "adopted": True},
            "Service": {
                "service_id": f"svc-{n}",
                "private_domain": f"{state.get('name')}.railway.internal",
            },
            "Volume": {"volume_id": f"vol-{n}"},
            # numbers travel through protobuf as floats, as they do from real state
            "TcpProxy": {"domain": proxy, "proxy_port": float(PROXY_PORT + n - 1)},
            "Deployment": {"deployment_id": f"dep-{n}", "status": "SUCCESS"},
            "RoleModel": {"changed": True},
        }.get(kind, {})
        state.update(computed)
        return f"{args.name}-id", state


STACK_TYPE = "pulumi:pulumi:Stack"


def is_root(parent_urn: str) -> bool:
    """Whether a parent URN is the stack's root resource (or no parent at all)."""
    return not parent_urn or parent_urn.split("::")[2] == STACK_TYPE


def engine_form(urn: str) -> str:
    """A mock URN as the engine writes it (without the root stack's type in front)."""
    return urn.replace(f"::{STACK_TYPE}$", "::", 1)


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The mock monitor, keeping each registration's raw inputs, options, URN and aliases."""

    def __init__(self, mocks: CoachdbMocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []

    def resolve_alias(self, request: Any, alias: Any) -> str:
        """The URN an alias of ``request`` names, by the engine's rules for alias specs.

        A spec's empty fields default to the resource's own name, type, stack and
        project; ``noParent`` means the top of the stack (no parent type in the URN),
        ``parentUrn`` that parent, neither the resource's current parent. The URN is
        built with the mock monitor's make_urn, the same rule the registrations use.
        """
        if alias.WhichOneof("alias") == "urn":
            return str(alias.urn)
        spec = alias.spec
        assert not spec.stack and not spec.project, "cross-stack aliases are not modelled"
        which = spec.WhichOneof("parent")
        parent = (
            ""
            if which == "noParent" and spec.noParent
            else spec.parentUrn
            if which == "parentUrn"
            else request.parent
        )
        return self.engine_urn(parent, spec.type or request.type, spec.name or request.name)

    def engine_urn(self, parent: str, typ: str, name: str) -> str:
        """A URN as the engine writes it: the root stack's type is not part of its
        children's URNs (the mock's make_urn would prefix it)."""
        return self.make_urn("" if is_root(parent) else parent, typ, name)

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type == STACK_TYPE:
            return response
        self.registrations.append(
            Registration(
                typ=request.type,
                name=request.name,
                raw_inputs=rpc.deserialize_properties(request.object),
                protect=bool(request.protect),
                retain_on_delete=bool(request.retainOnDelete),
                delete_before_replace=bool(request.deleteBeforeReplace),
                provider=request.provider,
                urn=self.engine_urn(request.parent, request.type, request.name),
                parent="" if is_root(request.parent) else engine_form(request.parent),
                aliases=[self.resolve_alias(request, a) for a in request.aliases],
            )
        )
        return response


@dataclass
class ProgramRun:
    """What one run of the program declared and exported."""

    registrations: list[Registration]
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: set[str] = field(default_factory=set)
    generated_passwords: dict[str, str] = field(default_factory=dict)

    def of_type(self, typ: str) -> list[Registration]:
        return [r for r in self.registrations if r.typ == typ]

    def one(self, typ: str) -> Registration:
        found = self.of_type(typ)
        assert len(found) == 1, f"expected one {typ}, found {[r.name for r in found]}"
        return found[0]


def ensure_event_loop() -> None:
    """Pulumi's mock runtime needs a current event loop; an earlier asyncio.run() in
    the same session (other suites use one) leaves none behind."""
    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
        if loop.is_closed():
            raise RuntimeError("closed")
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())


def run_program(
    config: dict[str, str] | None = None,
    secret_keys: tuple[str, ...] = (),
    stack: str = "test",
    network_ipam: dict[str, str] | None = None,
) -> ProgramRun:
    """Run pulumi/__main__.py afresh under mocks; ``config`` keys lack the project prefix.

    ``network_ipam``: the subnet and gateway the mocked provider reports for the network
    (a real engine's, when the test materialises the stack).
    """
    ensure_event_loop()
    mocks = CoachdbMocks(network_ipam)
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    full = {(k if ":" in k else f"{PROJECT}:{k}"): v for k, v in (config or {}).items()}
    pulumi.runtime.set_all_config(
        full, secret_keys=[k if ":" in k else f"{PROJECT}:{k}" for k in secret_keys]
    )
    exports: dict[str, Any] = {}
    run = ProgramRun(registrations=monitor.registrations)

    original_export = pulumi.export

    def record_export(name: str, value: Any) -> None:
        exports[name] = value

    async def resolve() -> None:
        for name, value in exports.items():
            output = pulumi.Output.from_input(value)
            run.outputs[name] = await output.future()
            if await output.is_secret():
                run.secret_outputs.add(name)

    @pulumi.runtime.test
    def program() -> Any:
        runpy.run_path(str(PROGRAM), run_name="__main__")
        return resolve()  # awaited by pulumi.runtime.test with the registrations

    pulumi.export = record_export
    try:
        program()
    finally:
        pulumi.export = original_export
    run.generated_passwords = dict(mocks.passwords)
    return run
