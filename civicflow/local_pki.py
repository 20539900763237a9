"""A local certificate authority and one certificate per service, for `make run` and the tests.

Created under a directory (`.civicflow/tls/` for `make run`) on first start and reused after:
`ca.pem` (which direct gRPC clients of the orchestrator trust), `ca-key.pem`, and
`<identity>.pem` / `<identity>-key.pem` for each service. In compose and Kubernetes the same
files come from mounted secrets made by your own authority (docs/operations.md).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from civicflow.auth.access import ServiceIdentity

CA_NAME = "Civicflow local CA"
VALIDITY = datetime.timedelta(days=397)
# Renewed this long before they expire, at the next start.
RENEW_BEFORE = datetime.timedelta(days=30)
# Addresses a certificate is valid for besides its identity: direct clients on this machine.
LOCAL_NAMES = ("localhost",)
LOCAL_ADDRESSES = ("127.0.0.1", "::1")


@dataclass(frozen=True)
class ServiceFiles:
    certificate: Path
    key: Path


@dataclass(frozen=True)
class LocalPki:
    ca: Path
    services: dict[ServiceIdentity, ServiceFiles]

    def files(self, identity: ServiceIdentity) -> ServiceFiles:
        return self.services[identity]


def ensure_local_pki(directory: Path, identities: tuple[ServiceIdentity, ...] = tuple(ServiceIdentity)) -> LocalPki:
    """The authority and every service's certificate under `directory`, made or renewed as needed."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_path, ca_key_path = directory / "ca.pem", directory / "ca-key.pem"
    if not _valid(ca_path) or not ca_key_path.exists():
        new_key = ec.generate_private_key(ec.SECP256R1())
        _write_key(ca_key_path, new_key)
        write_atomically(ca_path, _ca_certificate(new_key).public_bytes(serialization.Encoding.PEM))
    ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{ca_key_path}: not the elliptic-curve key of the local authority")
    ca_certificate = x509.load_pem_x509_certificate(ca_path.read_bytes())
    services = {}
    for identity in identities:
        files = ServiceFiles(certificate=directory / f"{identity}.pem", key=directory / f"{identity}-key.pem")
        if not _valid(files.certificate, issuer=ca_certificate) or not files.key.exists():
            key = ec.generate_private_key(ec.SECP256R1())
            _write_key(files.key, key)
            write_atomically(files.certificate, _service_certificate(identity, key, ca_key, ca_certificate))
        services[identity] = files
    return LocalPki(ca=ca_path, services=services)


def _ca_certificate(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )


def _service_certificate(
    identity: ServiceIdentity,
    key: ec.EllipticCurvePrivateKey,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_certificate: x509.Certificate,
) -> bytes:
    now = datetime.datetime.now(datetime.UTC)
    names: list[x509.GeneralName] = [x509.DNSName(str(identity)), *(x509.DNSName(name) for name in LOCAL_NAMES)]
    names += [x509.IPAddress(ipaddress.ip_address(address)) for address in LOCAL_ADDRESSES]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, str(identity))]))
        .issuer_name(ca_certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        # Every service is a server to some and a client of others.
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


def _valid(path: Path, *, issuer: x509.Certificate | None = None) -> bool:
    """Exists, is a certificate, is not about to expire, and (for a service's) was issued by this authority."""
    try:
        certificate = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return False
    if certificate.not_valid_after_utc - datetime.datetime.now(datetime.UTC) < RENEW_BEFORE:
        return False
    if issuer is not None:
        try:
            certificate.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, Exception):  # noqa: BLE001 (any failure means: issue a new one)
            return False
    return True


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    write_atomically(path, pem, mode=0o600)


def write_atomically(path: Path, content: bytes, *, mode: int = 0o644) -> None:
    """Written whole under a temporary name, then renamed: a reader never sees half a file."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "wb") as file:
        file.write(content)
    os.replace(temporary, path)
