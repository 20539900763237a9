"""The local issuer's key pair: made once, readable by its owner alone, and one key whoever makes it first when
several processes start together (make run starts services and the CLI mints tokens at the same time)."""

from __future__ import annotations

import multiprocessing
import stat
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.synchronize import Barrier
from pathlib import Path

from civicflow.auth.local_issuer import LocalTokenIssuer, ensure_issuer_key, public_key_path
from civicflow.auth.principals import Principal, Role
from civicflow.auth.tokens import TokenSettings, TokenVerifier

RACERS = 8
ROUNDS = 12
_start: Barrier | None = None


def test_the_key_is_made_once_and_only_its_owner_may_read_it(tmp_path: Path) -> None:
    private = tmp_path / ".civicflow" / "token-issuer-key.pem"

    public = ensure_issuer_key(private)
    made = private.read_bytes(), public.read_bytes(), private.stat().st_mtime_ns
    again = ensure_issuer_key(private)

    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert again == public == public_key_path(private)
    assert (private.read_bytes(), public.read_bytes(), private.stat().st_mtime_ns) == made
    token = LocalTokenIssuer(private).issue("alice", [Role.CASEWORKER])
    verifier = TokenVerifier(TokenSettings(token_public_key_path=public))
    assert verifier.verify(token) == Principal("alice", frozenset({Role.CASEWORKER}))


def _wait_for_the_others(barrier: Barrier) -> None:
    global _start
    _start = barrier


def _race(private: Path) -> tuple[bytes, bytes, str]:
    """In a process of its own: at the same moment as the others, make the key (or find it) and sign with it."""
    assert _start is not None
    _start.wait(timeout=60)
    public = ensure_issuer_key(private)
    token = LocalTokenIssuer(private).issue("racer", [Role.CASEWORKER])
    return private.read_bytes(), public.read_bytes(), token


def test_processes_racing_to_make_the_key_make_one(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(RACERS)
    with ProcessPoolExecutor(RACERS, mp_context=context, initializer=_wait_for_the_others, initargs=(barrier,)) as pool:
        for round_ in range(ROUNDS):
            private = tmp_path / f"round-{round_}" / "token-issuer-key.pem"

            results = list(pool.map(_race, [private] * RACERS))

            assert {result[0] for result in results} == {private.read_bytes()}, f"round {round_}: several keys"
            assert {result[1] for result in results} == {public_key_path(private).read_bytes()}
            verifier = TokenVerifier(TokenSettings(token_public_key_path=public_key_path(private)))
            assert {verifier.verify(token).subject for _, _, token in results} == {"racer"}
            assert stat.S_IMODE(private.stat().st_mode) == 0o600
            assert sorted(path.name for path in private.parent.iterdir()) == [
                "token-issuer-key.pem",
                "token-issuer-key.pub.pem",
            ]
