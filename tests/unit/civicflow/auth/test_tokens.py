"""The token verifier with the local issuer's key: what a token proves, how roles are read from its claims, what it
refuses, and that remembering verified tokens never outlives their expiry."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from civicflow.auth.local_issuer import LocalTokenIssuer, public_key_path
from civicflow.auth.principals import Principal, Role
from civicflow.auth.tokens import (
    MAX_SUBJECT_LENGTH,
    InvalidTokenError,
    TokenConfigurationError,
    TokenSettings,
    TokenVerifier,
    bearer_token,
)
from tests.support.bad_tokens import BAD_TOKENS, claims, signed
from tests.support.credentials import Credentials


def verifier(credentials: Credentials, **settings: object) -> TokenVerifier:
    return TokenVerifier(TokenSettings(token_public_key_path=credentials.token_public_key, **settings))  # type: ignore[arg-type]


def test_a_token_of_the_local_issuer_proves_its_subject_and_roles(credentials: Credentials) -> None:
    token = credentials.issue("alice", Role.CASEWORKER, Role.AUDITOR)

    assert verifier(credentials).verify(token) == Principal("alice", frozenset({Role.CASEWORKER, Role.AUDITOR}))


@pytest.mark.parametrize("kind", BAD_TOKENS)
def test_a_token_that_proves_nothing_is_refused(kind: str, credentials: Credentials) -> None:
    with pytest.raises(InvalidTokenError):
        verifier(credentials).verify(BAD_TOKENS[kind](credentials))


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("expired", "the token has expired"),
        ("wrong audience", "the token is not meant for this service (audience)"),
        ("wrong issuer", "the token was not issued by the configured issuer"),
        ("not yet valid (nbf)", "the token is not valid yet"),
        ("no subject", "the token lacks the 'sub' claim"),
        ("no expiry", "the token lacks the 'exp' claim"),
        ("alg none", "the token is not signed with an accepted algorithm"),
        ("HS256 keyed with the public key", "the token is not signed with an accepted algorithm"),
        ("signed by another key", "the token is malformed or its signature does not verify"),
        ("tampered payload", "the token is malformed or its signature does not verify"),
    ],
)
def test_a_refusal_says_why_without_echoing_the_token(kind: str, reason: str, credentials: Credentials) -> None:
    token = BAD_TOKENS[kind](credentials)
    with pytest.raises(InvalidTokenError) as refused:
        verifier(credentials).verify(token)
    assert str(refused.value) == reason
    assert token not in str(refused.value)


@pytest.mark.parametrize("subject", ["", "x" * (MAX_SUBJECT_LENGTH + 1), "alice\nactor: minister", "bob\x00"])
def test_a_subject_that_cannot_be_recorded_as_an_actor_is_refused(subject: str, credentials: Credentials) -> None:
    with pytest.raises(InvalidTokenError, match="subject"):
        verifier(credentials).verify(signed(credentials, claims(subject)))


def test_a_clock_skew_within_the_leeway_is_tolerated_and_none_beyond_it(credentials: Credentials) -> None:
    now = int(time.time())
    just_expired = signed(credentials, claims(iat=now - 100, nbf=now - 100, exp=now - 10))

    assert verifier(credentials, token_leeway_seconds=30).verify(just_expired).subject == "admin-1"
    with pytest.raises(InvalidTokenError, match="expired"):
        verifier(credentials, token_leeway_seconds=0).verify(just_expired)


def test_a_remembered_token_is_refused_once_it_has_expired(credentials: Credentials) -> None:
    checker = verifier(credentials, token_leeway_seconds=0)
    expires = int(time.time()) + 2
    token = signed(credentials, claims(exp=expires))
    assert checker.verify(token).subject == "admin-1"
    assert checker.verify(token).subject == "admin-1"  # from memory now

    time.sleep(max(0.0, expires - time.time()) + 0.05)

    with pytest.raises(InvalidTokenError, match="expired"):
        checker.verify(token)


@pytest.mark.parametrize(
    ("claim", "expected"),
    [
        (["caseworker", "analyst"], {Role.CASEWORKER, Role.ANALYST}),
        ("auditor", {Role.AUDITOR}),  # one name as a string
        (["superuser", "root", "Admin", "caseworker"], {Role.CASEWORKER}),  # unknown names ignored, case kept
        ([42, None, {"role": "admin"}], set()),
        ({"admin": True}, set()),
        (None, set()),
    ],
)
def test_roles_are_the_known_names_of_the_roles_claim(
    claim: object, expected: set[Role], credentials: Credentials
) -> None:
    payload = claims("carol")
    payload["roles"] = claim
    token = signed(credentials, {name: value for name, value in payload.items() if value is not None})
    assert verifier(credentials).verify(token).roles == expected


def test_the_roles_claim_and_a_mapping_from_group_names_are_settings(credentials: Credentials) -> None:
    mapping = {"benefits-caseworkers": Role.CASEWORKER, "finance-analysts": Role.ANALYST}
    checker = verifier(credentials, token_roles_claim="groups", token_role_mapping=mapping)
    token = signed(
        credentials, claims("dave", roles=(Role.ADMIN,), groups=["benefits-caseworkers", "everyone", "auditor"])
    )

    # The roles claim is not read at all; listed groups are mapped, a role's own name still counts.
    assert checker.verify(token).roles == {Role.CASEWORKER, Role.AUDITOR}


def test_a_verifier_without_a_key_source_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(TokenConfigurationError, match="TOKEN_PUBLIC_KEY_PATH"):
        TokenVerifier(TokenSettings())
    with pytest.raises(TokenConfigurationError, match="not a readable public key"):
        TokenVerifier(TokenSettings(token_public_key_path=tmp_path / "missing.pem"))


def test_another_local_issuers_tokens_are_refused(credentials: Credentials, tmp_path: Path) -> None:
    stranger = LocalTokenIssuer(tmp_path / "key.pem")
    assert public_key_path(tmp_path / "key.pem").exists()
    with pytest.raises(InvalidTokenError, match="signature"):
        verifier(credentials).verify(stranger.issue("mallory", [Role.ADMIN]))


@pytest.mark.parametrize(
    ("header", "token"), [("Bearer abc.def.ghi", "abc.def.ghi"), ("bearer  abc.def.ghi ", "abc.def.ghi")]
)
def test_the_token_is_read_from_a_bearer_authorization(header: str, token: str) -> None:
    assert bearer_token(header) == token


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer   ", "Basic YWxpY2U6cHc=", "abc.def.ghi"])
def test_an_authorization_that_is_not_bearer_is_refused(header: str | None) -> None:
    with pytest.raises(InvalidTokenError):
        bearer_token(header)
