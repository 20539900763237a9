"""The review queue and a review task as the command line draws them, and a run waiting for its review."""

from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console, RenderableType

from civicflow_cli import render, review_render
from civicflow_cli.arguments import build_parser

TASK_ID = "7d0c3c4e-9a51-4bde-8f0e-1d2a3b4c5d6e"
TASK: dict[str, Any] = {
    "review_task_id": TASK_ID,
    "instance_id": "0b6f8d0e-2c1a-4d3e-9f8a-7b6c5d4e3f2a",
    "citizen_id": "CIT-0000011",
    "scheme_name": "scheme_alpha",
    "scheme_version": 1,
    "recommendation": "NEEDS_REVIEW",
    "reasons": [{"criterion": "review_band", "kind": "review", "passed": False, "detail": "income near the ceiling"}],
    "status": "claimed",
    "assignee": "bob",
    "submitted_by": "alice",
    "created_at": "2026-12-04T09:30:00Z",
    "due_at": "2026-12-06T09:30:00Z",
    "overdue": True,
    "decided_at": None,
    "decision": None,
    "justification": None,
    "candidate_role": "caseworker",
    "claim_expires_at": "2026-12-04T10:30:00Z",
}


def _drawn(renderable: RenderableType) -> str:
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(renderable)
    return out.getvalue()


def test_the_queue_has_a_row_per_task_and_the_command_for_the_next_page() -> None:
    drawn = _drawn(review_render.queue({"items": [TASK], "next_offset": 1}, next_command="civicflow reviews list"))

    lines = drawn.splitlines()
    first = next(index for index, line in enumerate(lines) if TASK_ID in line)
    assert lines[first].split() == [TASK_ID, "claimed", "yes", "2026-12-06", "bob"]
    assert lines[first + 1].split() == ["CIT-0000011,", "scheme_alpha", "09:30"]
    assert "1 review task; next page: civicflow reviews list --offset 1" in drawn


def test_the_last_page_has_no_next_command() -> None:
    drawn = _drawn(review_render.queue({"items": [], "next_offset": None}, next_command="civicflow reviews list"))
    assert "0 review tasks" in drawn and "next page" not in drawn


def test_a_task_shows_who_holds_it_and_the_engines_reasons() -> None:
    drawn = _drawn(review_render.task(TASK))

    for expected in ("claimed", "CIT-0000011", "scheme_alpha version 1", "NEEDS_REVIEW", "alice", "claim lapses"):
        assert expected in drawn
    assert "review_band" in drawn and "income near the ceiling" in drawn
    assert "justification" not in drawn


def test_a_decided_task_shows_the_decision_and_why() -> None:
    decided = {**TASK, "status": "decided", "decision": "ELIGIBLE", "justification": "Checked with the employer."}
    drawn = _drawn(review_render.task({**decided, "claim_expires_at": None, "decided_at": "2026-12-04T10:00:00Z"}))
    assert "ELIGIBLE" in drawn and "Checked with the employer." in drawn and "claim lapses" not in drawn


def test_a_waiting_run_names_its_review_task() -> None:
    waiting = {"instance_id": "i", "status": "waiting", "waiting_for": {"review_task_id": TASK_ID}, "outputs": {}}
    drawn = _drawn(render.instance(waiting))
    assert f"review task {TASK_ID}" in drawn


def test_a_reviewed_decision_says_who_decided_it_and_what_was_recommended() -> None:
    outputs = {
        "decision": {
            "decision": "NOT_ELIGIBLE",
            "reviewed_by": "bob",
            "justification": "Income confirmed above the ceiling.",
            "review_task_id": TASK_ID,
            "recommended": {"decision": "NEEDS_REVIEW", "reasons": []},
            "reasons": [],
        }
    }
    drawn = _drawn(render.instance({"instance_id": "i", "status": "completed", "outputs": outputs}))
    assert "NOT_ELIGIBLE" in drawn and "bob" in drawn and "NEEDS_REVIEW" in drawn
    assert "Income confirmed above the ceiling." in drawn


@pytest.mark.parametrize(
    "argv",
    [
        ["reviews", "decide", TASK_ID, "--decision", "NEEDS_REVIEW", "--justification", "x" * 20],
        ["reviews", "claim", "not-a-uuid"],
        ["reviews", "reassign", TASK_ID],
        ["reviews", "list", "--status", "waiting"],
        ["reviews", "list", "--limit", "0"],
    ],
)
def test_a_malformed_reviews_command_line_is_a_usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(argv)
    assert exited.value.code == 2
