"""The run list's statements, as PostgreSQL plans them over the session's seeded runs: every filter, first page or
deep, is read from an index, never from a scan of the whole table, and in the list's order (no sort) but for one
citizen's handful of runs, which the planner may as well read from runs_by_citizen and sort."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from bench.run_list_seed import RunListShape
from orchestrator.storage.run_list import RunCursor, RunFilter, list_statement

READABLE = frozenset({"eligibility_check", "benefit_application", "appeal_processing"})


def _filters(shape: RunListShape) -> dict[str, RunFilter]:
    return {
        "none": RunFilter(),
        "template_id": RunFilter(template_ids={"impact_analysis"}),
        "a caseworker's templates": RunFilter(template_ids=READABLE),
        "status": RunFilter(status="failed"),
        "citizen_id": RunFilter(citizen_id=f"{shape.citizen_prefix}{7:07d}"),
        "actor": RunFilter(actor=shape.actors[0]),
        "created range": RunFilter(created_after=shape.created_at_of(3000), created_before=shape.created_at_of(1000)),
    }


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


@pytest.mark.parametrize("deep", [False, True], ids=["first page", "after a cursor"])
@pytest.mark.parametrize(
    "name", ["none", "template_id", "a caseworker's templates", "status", "citizen_id", "actor", "created range"]
)
def test_each_filter_is_read_in_order_from_an_index(
    name: str, deep: bool, owner: sa.Engine, seeded_runs: RunListShape
) -> None:
    after = RunCursor(seeded_runs.created_at_of(5000), uuid.UUID(int=0)) if deep else None
    sql, params = list_statement(_filters(seeded_runs)[name], after=after, limit=50)

    raw = owner.raw_connection()
    try:
        with raw.cursor() as cursor:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            (plan,) = cursor.fetchone()
    finally:
        raw.close()

    planned = list(nodes((plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"]))
    kinds = [node["Node Type"] for node in planned]
    indexes = {node["Index Name"] for node in planned if "Index Name" in node}
    assert "Seq Scan" not in kinds and indexes, kinds
    if name == "citizen_id":
        assert indexes == {"runs_by_citizen"}
    else:
        assert "Sort" not in kinds, kinds
