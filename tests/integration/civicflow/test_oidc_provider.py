"""The token verifier against an OpenID Connect provider served by a real HTTP server on loopback: its discovery
document and JWKS (RS256 keys) are fetched as in production, and only tokens its own keys sign are accepted."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from civicflow.auth.local_issuer import LocalTokenIssuer
from civicflow.auth.principals import Role
from civicflow.auth.tokens import InvalidTokenError, TokenSettings, TokenVerifier

AUDIENCE = "civicflow"
GROUPS = {"benefits-caseworkers": "caseworker", "finance-analysts": "analyst", "internal-audit": "auditor"}


@dataclass
class Provider:
    """An identity provider: its issuer URL, the keys its JWKS publishes by kid, and what was asked of it."""

    issuer: str = ""
    published: dict[str, rsa.RSAPrivateKey] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def publish(self, kid: str) -> rsa.RSAPrivateKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.published[kid] = key
        return key

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, key in self.published.items():
            jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": keys}

    def sign(
        self, subject: str, *, kid: str, key: rsa.RSAPrivateKey | None = None, ttl: int = 300, **claims: Any
    ) -> str:
        now = int(time.time())
        payload = {"iss": self.issuer, "aud": AUDIENCE, "sub": subject, "iat": now, "nbf": now, "exp": now + ttl}
        signing_key = key or self.published[kid]
        return jwt.encode({**payload, **claims}, signing_key, algorithm="RS256", headers={"kid": kid})


@pytest.fixture
def provider() -> Iterator[Provider]:
    provider = Provider()
    provider.publish("key-1")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            provider.requests.append(self.path)
            if self.path == "/realms/civicflow/.well-known/openid-configuration":
                body: dict[str, Any] = {
                    "issuer": provider.issuer,
                    "jwks_uri": f"{provider.issuer}/protocol/openid-connect/certs",
                    "id_token_signing_alg_values_supported": ["RS256"],
                }
            elif self.path == "/realms/civicflow/protocol/openid-connect/certs":
                body = provider.jwks()
            else:
                self.send_error(HTTPStatus.NOT_FOUND)
                return
            data = json.dumps(body).encode()
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    provider.issuer = f"http://127.0.0.1:{server.server_address[1]}/realms/civicflow"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield provider
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def verifier(provider: Provider, monkeypatch: pytest.MonkeyPatch) -> TokenVerifier:
    """Configured as docs/operations.md says, from the environment: the provider, its groups claim and their mapping."""
    monkeypatch.setenv("OIDC_ISSUER_URL", provider.issuer)
    monkeypatch.setenv("TOKEN_ISSUER", provider.issuer)
    monkeypatch.setenv("TOKEN_AUDIENCE", AUDIENCE)
    monkeypatch.setenv("TOKEN_ROLES_CLAIM", "groups")
    monkeypatch.setenv("TOKEN_ROLE_MAPPING", json.dumps(GROUPS))
    return TokenVerifier(TokenSettings())


def test_a_token_the_provider_signs_is_accepted_with_roles_from_its_groups(
    provider: Provider, verifier: TokenVerifier
) -> None:
    token = provider.sign("alice@example.org", kid="key-1", groups=["benefits-caseworkers", "internal-audit"])

    principal = verifier.verify(token)

    assert principal.subject == "alice@example.org"
    assert principal.roles == {Role.CASEWORKER, Role.AUDITOR}
    assert provider.requests == [
        "/realms/civicflow/.well-known/openid-configuration",
        "/realms/civicflow/protocol/openid-connect/certs",
    ]


def test_group_names_the_mapping_does_not_know_grant_nothing(provider: Provider, verifier: TokenVerifier) -> None:
    token = provider.sign(
        "bob", kid="key-1", groups=["everyone", "civicflow-admins", "Benefits-Caseworkers"], roles=["admin"]
    )

    # Only the configured claim is read: a "roles" claim beside it grants nothing either.
    assert verifier.verify(token).roles == frozenset()


def test_a_token_from_a_key_the_provider_does_not_publish_is_refused(
    provider: Provider, verifier: TokenVerifier
) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    with pytest.raises(InvalidTokenError, match="no key of the identity provider"):
        verifier.verify(provider.sign("mallory", kid="key-9", key=stranger, groups=["internal-audit"]))
    with pytest.raises(InvalidTokenError, match="signature"):
        verifier.verify(provider.sign("mallory", kid="key-1", key=stranger, groups=["internal-audit"]))


def test_tokens_naming_unknown_keys_do_not_make_the_verifier_hammer_the_provider(
    provider: Provider, verifier: TokenVerifier
) -> None:
    assert verifier.verify(provider.sign("carol", kid="key-1")).subject == "carol"
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    for attempt in range(20):
        with pytest.raises(InvalidTokenError):
            verifier.verify(provider.sign("mallory", kid=f"forged-{attempt}", key=stranger))

    # The key set is fetched again at most once (pyjwt's cool-down), not once per forged token.
    assert provider.requests.count("/realms/civicflow/protocol/openid-connect/certs") <= 2


@pytest.mark.parametrize("algorithm", ["HS256", "none"])
def test_a_token_naming_a_published_key_with_another_algorithm_is_refused(
    algorithm: str, provider: Provider, verifier: TokenVerifier
) -> None:
    now = int(time.time())
    claims = {"iss": provider.issuer, "aud": AUDIENCE, "sub": "mallory", "exp": now + 300, "groups": ["internal-audit"]}
    secret = provider.jwks()["keys"][0]["n"] if algorithm == "HS256" else None
    token = jwt.encode(claims, secret, algorithm=algorithm, headers={"kid": "key-1"})

    with pytest.raises(InvalidTokenError):
        verifier.verify(token)


def test_the_local_issuers_tokens_are_refused_when_a_provider_is_configured(
    verifier: TokenVerifier, tmp_path: Any
) -> None:
    local = LocalTokenIssuer(tmp_path / "issuer-key.pem").issue("dave", [Role.ADMIN])

    with pytest.raises(InvalidTokenError):
        verifier.verify(local)


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"iss": "http://127.0.0.1:1/realms/other"}, "issuer"),
        ({"aud": "another-service"}, "audience"),
        ({"exp": int(time.time()) - 3600}, "expired"),
    ],
)
def test_the_providers_token_for_another_issuer_audience_or_time_is_refused(
    claims: dict[str, Any], reason: str, provider: Provider, verifier: TokenVerifier
) -> None:
    with pytest.raises(InvalidTokenError, match=reason):
        verifier.verify(provider.sign(f"erin-{uuid.uuid4().hex[:6]}", kid="key-1", **claims))


def test_an_unreachable_provider_refuses_the_token_and_is_asked_again_later(
    provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    issuer = provider.issuer
    monkeypatch.setenv("OIDC_ISSUER_URL", issuer.replace("/realms/civicflow", "/realms/nowhere"))
    monkeypatch.setenv("TOKEN_ISSUER", issuer)
    unreachable = TokenVerifier(TokenSettings())

    with pytest.raises(InvalidTokenError, match="cannot be fetched"):
        unreachable.verify(provider.sign("frank", kid="key-1"))
    with pytest.raises(InvalidTokenError, match="cannot be fetched"):
        unreachable.verify(provider.sign("frank", kid="key-1"))
    assert provider.requests == ["/realms/nowhere/.well-known/openid-configuration"] * 2
