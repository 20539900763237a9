"""Mutual TLS between the services: each proves its identity with a certificate from one certificate authority.

A service's identity is the common name (CN) of its certificate, one of access.ServiceIdentity;
each certificate also names that identity as a DNS name, and clients check the server's
certificate against the identity they meant to reach, whatever address it was reached at (so
`dns:///evaluator:50052`, a list of loopback ports or a Kubernetes Service all verify the same).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import grpc

from civicflow.settings import ConfigurationError, ServiceSettings

# Impact-analysis batches and long audit trails exceed gRPC's 4 MiB default.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
SERVER_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
)


class TlsConfigurationError(ConfigurationError):
    """A certificate, key or CA file that is missing or unreadable: the service refuses to start."""


@dataclass(frozen=True)
class Identity:
    """A service's certificate and key, and the authority it trusts, read once at start."""

    ca: bytes
    certificate: bytes
    key: bytes

    @classmethod
    def load(cls, settings: ServiceSettings) -> Identity:
        paths = {
            "TLS_CA_PATH": settings.tls_ca_path,
            "TLS_CERT_PATH": settings.tls_cert_path,
            "TLS_KEY_PATH": settings.tls_key_path,
        }
        missing = [name for name, path in paths.items() if path is None]
        if missing:
            raise TlsConfigurationError(
                f"{', '.join(missing)} must be set: services talk to each other over mutual TLS"
            )
        contents: list[bytes] = []
        for name, path in paths.items():
            assert path is not None
            try:
                contents.append(path.read_bytes())
            except OSError as error:
                raise TlsConfigurationError(f"{name} {path}: {error.strerror}") from None
        return cls(ca=contents[0], certificate=contents[1], key=contents[2])

    def server_credentials(self, *, require_client_certificate: bool) -> grpc.ServerCredentials:
        """Credentials of a server: clients must show a certificate from the authority unless told otherwise."""
        return grpc.ssl_server_credentials(
            [(self.key, self.certificate)],
            root_certificates=self.ca,
            require_client_auth=require_client_certificate,
        )

    def channel(
        self, target: str, *, server: str, interceptors: Sequence[grpc.aio.ClientInterceptor] = ()
    ) -> grpc.aio.Channel:
        """A channel to the service whose identity is `server`, spreading calls over every address (round_robin).

        `interceptors`: the caller's tracing (civicflow/tracing.py client_interceptors), if any.
        """
        credentials = grpc.ssl_channel_credentials(
            root_certificates=self.ca, private_key=self.key, certificate_chain=self.certificate
        )
        return grpc.aio.secure_channel(
            target,
            credentials,
            options=[
                *SERVER_OPTIONS,
                ("grpc.lb_policy_name", "round_robin"),
                # gRPC's reconnect backoff grows to 120 s by default: a service restarted after a long outage
                # would stay unused for up to that long. Capped, it is used again within seconds.
                ("grpc.initial_reconnect_backoff_ms", 250),
                ("grpc.max_reconnect_backoff_ms", 2000),
                ("grpc.ssl_target_name_override", server),
                ("grpc.default_authority", server),
            ],
            interceptors=list(interceptors) or None,
        )


def peer_identity(context: grpc.aio.ServicerContext) -> str | None:
    """The identity (certificate CN) of the service calling, or None for a caller without a verified certificate."""
    auth = context.auth_context()
    names = auth.get("x509_common_name") or []
    return names[0].decode() if names else None
