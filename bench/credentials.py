"""The credentials of services the benchmark starts itself: a local authority, a token issuer, and clients of both.

Made as the launcher makes them (civicflow/launch/process_plan.py), under a directory of the
benchmark's own, so that each service proves its identity and each caller its role exactly as
in `make run`: nothing is measured with security switched off.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc

from civicflow.auth.access import ServiceIdentity
from civicflow.auth.local_issuer import LocalTokenIssuer, ensure_issuer_key
from civicflow.auth.principals import Role
from civicflow.launch.process_plan import Credentials
from civicflow.local_pki import ensure_local_pki
from civicflow.tls import SERVER_OPTIONS


def subject_of(role: Role) -> str:
    """The subject of the benchmark's token for `role`: one subject per role."""
    return f"bench-{role}"


# Services that verify people's tokens: they are given the issuer's public key.
TAKES_TOKENS = frozenset({ServiceIdentity.ORCHESTRATOR, ServiceIdentity.AUDIT_SERVICE, ServiceIdentity.GATEWAY})


@dataclass(frozen=True)
class BenchCredentials:
    made: Credentials
    issuer: LocalTokenIssuer

    @classmethod
    def create(cls, directory: Path) -> BenchCredentials:
        issuer_key = directory / "token-issuer-key.pem"
        made = Credentials(pki=ensure_local_pki(directory / "tls"), token_public_key=ensure_issuer_key(issuer_key))
        return cls(made=made, issuer=LocalTokenIssuer(issuer_key))

    def environment(self, identity: ServiceIdentity) -> dict[str, str]:
        """What a service started as a process is given: its TLS files, and the issuer's public key if it needs it."""
        tokens = {"TOKEN_PUBLIC_KEY_PATH": str(self.made.token_public_key)} if identity in TAKES_TOKENS else {}
        return {**self.made.tls(identity), **tokens}

    def token(self, role: Role) -> str:
        return self.issuer.issue(subject_of(role), [role])

    def channel(
        self, target: str, *, server: ServiceIdentity, as_: ServiceIdentity | None = None, token: str | None = None
    ) -> grpc.Channel:
        """A channel to `server`, trusting the authority; with `as_`, showing that service's certificate; with
        `token`, sending it as a bearer token on every call."""
        ca = self.made.pki.ca.read_bytes()
        if as_ is None:
            credentials = grpc.ssl_channel_credentials(root_certificates=ca)
        else:
            files = self.made.pki.files(as_)
            credentials = grpc.ssl_channel_credentials(
                root_certificates=ca,
                private_key=files.key.read_bytes(),
                certificate_chain=files.certificate.read_bytes(),
            )
        if token is not None:
            credentials = grpc.composite_channel_credentials(credentials, grpc.access_token_call_credentials(token))
        options = [
            *SERVER_OPTIONS,
            ("grpc.ssl_target_name_override", str(server)),
            ("grpc.default_authority", str(server)),
        ]
        return grpc.secure_channel(target, credentials, options=options)
