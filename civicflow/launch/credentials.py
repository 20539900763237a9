"""`python -m civicflow.launch.credentials`: the credentials `make run` makes, laid out for containers (compose).

The authority directory holds what `.civicflow/` holds for `make run`: the local certificate
authority with every service's certificate (`tls/`, civicflow/local_pki.py) and the token
issuer's key pair; the database directory the roles' passwords, which the database setup job
reads, and the superuser password of a PostgreSQL made for the demo. Each service then gets a
directory of its own holding what it needs and nothing more, so that its container mounts
that directory alone:

    <services>/<identity>/ca.pem, certificate.pem, key.pem   every service: its TLS identity
                          token-public-key.pem                 the services that verify bearer tokens
                          database-password                    the services with a database role

Everything is made on the first run and kept; the services' directories are written again at
every run, so that a certificate renewed in the authority reaches them.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from civicflow.auth.access import ServiceIdentity
from civicflow.auth.local_issuer import ensure_issuer_key
from civicflow.database_setup import load_or_create_passwords
from civicflow.local_pki import ensure_local_pki, write_atomically

CA = "ca.pem"
CERTIFICATE = "certificate.pem"
KEY = "key.pem"
TOKEN_PUBLIC_KEY = "token-public-key.pem"
DATABASE_PASSWORD = "database-password"
PASSWORDS = "database-passwords.json"
POSTGRES_PASSWORD = "postgres-password"
# The services that verify bearer tokens, and the database role (civicflow/database_setup.py) of those with tables.
VERIFIES_TOKENS = frozenset({ServiceIdentity.GATEWAY, ServiceIdentity.ORCHESTRATOR, ServiceIdentity.AUDIT_SERVICE})
DATABASE_ROLES = {ServiceIdentity.ORCHESTRATOR: "orchestrator", ServiceIdentity.AUDIT_SERVICE: "audit"}


@dataclass(frozen=True)
class ContainerCredentials:
    """Where each service's directory is, and the files the database setup and a demo PostgreSQL read."""

    services: dict[ServiceIdentity, Path]
    passwords: Path
    postgres_password: Path


def prepare_container_credentials(*, authority: Path, database: Path, services: Path) -> ContainerCredentials:
    """Makes what is missing under `authority` and `database`, then writes each service's directory in `services`."""
    pki = ensure_local_pki(authority / "tls")
    token_public_key = ensure_issuer_key(authority / "token-issuer-key.pem")
    passwords = load_or_create_passwords(database / PASSWORDS)
    postgres_password = database / POSTGRES_PASSWORD
    if not postgres_password.exists():
        # Read by the PostgreSQL container's own user, which is not ours: readable by all in a directory only it shares.
        write_atomically(postgres_password, secrets.token_urlsafe(24).encode(), mode=0o644)
    bundles = {}
    for identity in ServiceIdentity:
        bundle = services / str(identity)
        bundle.mkdir(parents=True, exist_ok=True)
        files = pki.files(identity)
        write_atomically(bundle / CA, pki.ca.read_bytes())
        write_atomically(bundle / CERTIFICATE, files.certificate.read_bytes())
        write_atomically(bundle / KEY, files.key.read_bytes(), mode=0o600)
        if identity in VERIFIES_TOKENS:
            write_atomically(bundle / TOKEN_PUBLIC_KEY, token_public_key.read_bytes())
        if identity in DATABASE_ROLES:
            write_atomically(bundle / DATABASE_PASSWORD, passwords[DATABASE_ROLES[identity]].encode(), mode=0o600)
        bundles[identity] = bundle
    return ContainerCredentials(services=bundles, passwords=database / PASSWORDS, postgres_password=postgres_password)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m civicflow.launch.credentials", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--authority", type=Path, required=True, help="the authority's and token issuer's keys")
    parser.add_argument("--database", type=Path, required=True, help="the database roles' and superuser's passwords")
    parser.add_argument("--services", type=Path, required=True, help="one directory per service identity")
    arguments = parser.parse_args(argv)
    made = prepare_container_credentials(
        authority=arguments.authority, database=arguments.database, services=arguments.services
    )
    print("credentials ready for " + ", ".join(sorted(made.services)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
