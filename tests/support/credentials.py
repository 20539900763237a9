"""The trust boundary as the tests cross it: a local authority with every service's certificate, a token issuer,
and the settings, environments, channels and tokens made from them, exactly as the launcher makes its own.

A service under test gets `service_settings(identity)` (its TLS files and the issuer's public key); a test
calls a service as another one over `channel(target, server=..., as_=...)`, and the orchestrator's API
with a person's token: on every call of an `orchestrator_channel`, or on one call (`metadata=bearer(token)`) over
a `channel(target, server=ServiceIdentity.ORCHESTRATOR)` that carries none.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from civicflow.auth.access import ServiceIdentity
from civicflow.auth.guards import bearer_metadata
from civicflow.auth.local_issuer import LocalTokenIssuer, public_key_path
from civicflow.auth.principals import Role
from civicflow.launch import process_plan
from civicflow.local_pki import LocalPki, ensure_local_pki
from civicflow.tls import SERVER_OPTIONS, Identity

# The one person of each role the tests act as, unless a test needs a subject of its own.
SUBJECTS = {role: f"{role}-1" for role in Role}


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    """gRPC metadata of one call made with `token`."""
    return bearer_metadata(token)


def authorization(token: str) -> dict[str, str]:
    """The HTTP header of a request made with `token`."""
    return {"Authorization": f"Bearer {token}"}


@dataclass(frozen=True)
class Credentials:
    """A local certificate authority with one certificate per service, and a local token issuer's key pair."""

    pki: LocalPki
    issuer_key: Path
    _tokens: dict[Role, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def create(cls, directory: Path) -> Credentials:
        """Made under `directory` as `make run` makes them under .civicflow/: tls/ and token-issuer-key.pem."""
        credentials = cls(pki=ensure_local_pki(directory / "tls"), issuer_key=directory / "token-issuer-key.pem")
        credentials.issuer  # noqa: B018 (creates the issuer's key pair now, before any service reads its public key)
        return credentials

    @property
    def token_public_key(self) -> Path:
        return public_key_path(self.issuer_key)

    @functools.cached_property
    def issuer(self) -> LocalTokenIssuer:
        return LocalTokenIssuer(self.issuer_key)

    def issue(self, subject: str, *roles: Role, ttl_seconds: float = 3600) -> str:
        """A fresh token of `subject` with `roles`."""
        return self.issuer.issue(subject, roles, ttl_seconds=ttl_seconds)

    def token(self, role: Role) -> str:
        """The token of the tests' usual person of `role` (SUBJECTS), made once per session."""
        if role not in self._tokens:
            self._tokens[role] = self.issue(SUBJECTS[role], role, ttl_seconds=24 * 3600)
        return self._tokens[role]

    def as_launched(self) -> process_plan.Credentials:
        """The same files as what the launcher makes before it plans its processes."""
        return process_plan.Credentials(pki=self.pki, token_public_key=self.token_public_key)

    def tls_settings(self, identity: ServiceIdentity) -> dict[str, Path]:
        """The settings fields that give a service its identity for mutual TLS."""
        files = self.pki.files(identity)
        return {"tls_ca_path": self.pki.ca, "tls_cert_path": files.certificate, "tls_key_path": files.key}

    def service_settings(self, identity: ServiceIdentity) -> dict[str, Path]:
        """Its TLS identity and the public key it verifies bearer tokens with (only some services take tokens)."""
        return {**self.tls_settings(identity), "token_public_key_path": self.token_public_key}

    def environment(self, identity: ServiceIdentity) -> dict[str, str]:
        """The same settings as environment variables, for a service started as a process."""
        return {name.upper(): str(value) for name, value in self.service_settings(identity).items()}

    def identity(self, identity: ServiceIdentity) -> Identity:
        """The service's certificate and key, and the authority, as a server under test serves with them."""
        files = self.pki.files(identity)
        return Identity(
            ca=self.pki.ca.read_bytes(), certificate=files.certificate.read_bytes(), key=files.key.read_bytes()
        )

    def channel_credentials(self, as_: ServiceIdentity | None = None) -> grpc.ChannelCredentials:
        """TLS trusting the authority; with `as_`, showing that service's certificate."""
        if as_ is None:
            return grpc.ssl_channel_credentials(root_certificates=self.pki.ca.read_bytes())
        files = self.pki.files(as_)
        return grpc.ssl_channel_credentials(
            root_certificates=self.pki.ca.read_bytes(),
            private_key=files.key.read_bytes(),
            certificate_chain=files.certificate.read_bytes(),
        )

    def channel(
        self, target: str, *, server: ServiceIdentity, as_: ServiceIdentity | None = None, token: str | None = None
    ) -> grpc.Channel:
        """A channel to the service `server` at `target`; every call carries `token` if one is given."""
        return grpc.secure_channel(target, self._credentials(as_, token), options=_options(server))

    def aio_channel(
        self, target: str, *, server: ServiceIdentity, as_: ServiceIdentity | None = None, token: str | None = None
    ) -> grpc.aio.Channel:
        return grpc.aio.secure_channel(target, self._credentials(as_, token), options=_options(server))

    def orchestrator_channel(
        self, target: str, *, role: Role = Role.CASEWORKER, token: str | None = None
    ) -> grpc.Channel:
        """A client of the orchestrator's public API: server TLS, no certificate, a bearer token on every call."""
        return self.channel(target, server=ServiceIdentity.ORCHESTRATOR, token=token or self.token(role))

    def _credentials(self, as_: ServiceIdentity | None, token: str | None) -> grpc.ChannelCredentials:
        credentials = self.channel_credentials(as_)
        if token is None:
            return credentials
        # grpc's own call credentials send `authorization: Bearer <token>` with every call of the channel.
        return grpc.composite_channel_credentials(credentials, grpc.access_token_call_credentials(token))


def _options(server: ServiceIdentity) -> list[tuple[str, str | int]]:
    """As civicflow/tls.py: the server's certificate is checked against its identity, whatever address it is at."""
    return [*SERVER_OPTIONS, ("grpc.ssl_target_name_override", str(server)), ("grpc.default_authority", str(server))]
