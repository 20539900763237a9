"""The verification-load benchmark measures what it claims: checks that complete while real verifications run."""

from __future__ import annotations

import pytest

from bench.verify_load import measure_verify_load, verify_load_json, verify_load_table

pytestmark = pytest.mark.bench


def test_checks_are_timed_while_callers_share_verifications_of_a_bulk_built_log(
    postgres_server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", postgres_server_url)
    progress: list[str] = []

    # measure_verify_load raises if a check does not complete or the bulk-built log does not verify.
    figures = measure_verify_load(log_size=2000, progress=progress.append, verifiers=3, checks=5)

    assert len(figures.quiet.seconds) == len(figures.during.seconds) == 5
    calls = len(figures.verify_calls.seconds)
    assert calls >= 3, "every verifier had at least one call answered"
    assert 1 <= figures.verifications <= calls
    document = verify_load_json(figures)
    assert document["verify_call"]["verifications"] == figures.verifications
    assert "eligibility check, 3 callers verifying" in verify_load_table(figures)
    assert any("2,000 of 2,000 entries hashed and loaded" in line for line in progress)
