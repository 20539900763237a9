"""The credentials laid out for containers: every service a directory with what it needs alone, made once and kept,
written again at every run so that a renewed certificate reaches the services."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from cryptography import x509

from civicflow.auth.access import ServiceIdentity
from civicflow.launch.credentials import (
    CA,
    CERTIFICATE,
    DATABASE_PASSWORD,
    KEY,
    TOKEN_PUBLIC_KEY,
    ContainerCredentials,
    prepare_container_credentials,
)


def prepare(root: Path) -> ContainerCredentials:
    return prepare_container_credentials(
        authority=root / "authority", database=root / "database", services=root / "services"
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_each_service_gets_its_identity_and_only_the_token_key_and_password_it_uses(tmp_path: Path) -> None:
    made = prepare(tmp_path)

    contents = {identity: sorted(path.name for path in folder.iterdir()) for identity, folder in made.services.items()}
    identity_files = [CA, CERTIFICATE, KEY]
    assert contents == {
        ServiceIdentity.EVALUATOR: sorted(identity_files),
        ServiceIdentity.GATEWAY: sorted([*identity_files, TOKEN_PUBLIC_KEY]),
        ServiceIdentity.ORCHESTRATOR: sorted([*identity_files, TOKEN_PUBLIC_KEY, DATABASE_PASSWORD]),
        ServiceIdentity.AUDIT_SERVICE: sorted([*identity_files, TOKEN_PUBLIC_KEY, DATABASE_PASSWORD]),
    }
    for identity, folder in made.services.items():
        certificate = x509.load_pem_x509_certificate((folder / CERTIFICATE).read_bytes())
        assert certificate.subject.rfc4514_string() == f"CN={identity}"
        assert mode(folder / KEY) == 0o600


def test_the_database_passwords_are_the_setups_and_only_the_demo_superusers_is_readable_by_others(
    tmp_path: Path,
) -> None:
    made = prepare(tmp_path)
    passwords = json.loads(made.passwords.read_text())

    assert (made.services[ServiceIdentity.ORCHESTRATOR] / DATABASE_PASSWORD).read_text() == passwords["orchestrator"]
    assert (made.services[ServiceIdentity.AUDIT_SERVICE] / DATABASE_PASSWORD).read_text() == passwords["audit"]
    assert passwords["owner"] not in {
        path.read_text() for folder in made.services.values() for path in folder.iterdir()
    }
    assert (mode(made.passwords), mode(made.services[ServiceIdentity.AUDIT_SERVICE] / DATABASE_PASSWORD)) == (
        0o600,
    ) * 2
    # The PostgreSQL container reads it as a user of its own.
    assert mode(made.postgres_password) == 0o644 and made.postgres_password.read_text()


def test_a_second_run_keeps_every_secret_and_brings_back_what_a_service_lost(tmp_path: Path) -> None:
    first = prepare(tmp_path)
    before = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    (first.services[ServiceIdentity.GATEWAY] / KEY).unlink()

    prepare(tmp_path)

    assert {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()} == before


def test_a_certificate_renewed_in_the_authority_reaches_the_service_at_the_next_run(tmp_path: Path) -> None:
    first = prepare(tmp_path)
    old = (first.services[ServiceIdentity.EVALUATOR] / CERTIFICATE).read_bytes()
    (tmp_path / "authority" / "tls" / f"{ServiceIdentity.EVALUATOR}.pem").unlink()

    again = prepare(tmp_path)

    renewed = (again.services[ServiceIdentity.EVALUATOR] / CERTIFICATE).read_bytes()
    assert renewed != old
    assert renewed == (tmp_path / "authority" / "tls" / f"{ServiceIdentity.EVALUATOR}.pem").read_bytes()
