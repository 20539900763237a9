"""The audit benchmark measures what it claims: a bulk-built log the real service proves, real appends, real runs."""

from __future__ import annotations

import statistics

import pytest

from bench.audit_workloads import audit_json, audit_table, measure_audit

pytestmark = pytest.mark.bench


def test_the_audit_figures_come_from_real_services_over_a_log_they_can_prove(
    postgres_server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", postgres_server_url)
    progress: list[str] = []

    figures = measure_audit(
        log_size=1000, progress=progress.append, proofs=20, appends=5, clients=3, workflows_per_client=2, impact_runs=2
    )

    # measure_audit itself raises if a proof does not verify against the root it built, or if the
    # service computes another leaf hash than the bulk builder did.
    assert len(figures.inclusion.seconds) == len(figures.consistency.seconds) == 20
    assert len(figures.sequential_append.seconds) == 5
    assert len(figures.concurrent_append.seconds) == 3 * 2 * 4
    assert len(figures.impact_with_merkle) == len(figures.impact_plain) == 2
    document = audit_json(figures)
    pairs = zip(figures.impact_with_merkle, figures.impact_plain, strict=True)
    assert document["impact_500"]["overhead_percent"] == pytest.approx(
        (statistics.median(merkle / plain for merkle, plain in pairs) - 1) * 100
    )
    assert "inclusion proof, log of 1,000 (gRPC)" in audit_table(figures)
    assert any("1,000 of 1,000 entries hashed and loaded" in line for line in progress)
