"""Tables of the review routes' answers: the queue, one page at a time, and one task."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

STATUS_STYLES = {
    "open": "cyan",
    "claimed": "yellow",
    "decided": "green",
    "cancelled": "dim",
    "ELIGIBLE": "green",
    "NOT_ELIGIBLE": "red",
    "NEEDS_REVIEW": "yellow",
}


def _text(value: Any) -> Text:
    text = "-" if value is None else str(value)
    return Text(text, style=STATUS_STYLES.get(text, ""))


def _overdue(value: Any) -> Text:
    return Text("yes", style="bold red") if value else Text("no")


def queue(body: dict[str, Any], *, next_command: str) -> RenderableType:
    """GET /reviews: one page of tasks, two lines each so that a row fits 80 columns with its whole id (which the
    next command needs); and the command for the next page, if there is one."""
    table = Table(box=box.SIMPLE, pad_edge=False, collapse_padding=True)
    table.add_column("review task\ncitizen, scheme", no_wrap=True, min_width=36)
    for column in ("status", "overdue", "due (UTC)", "assignee"):
        table.add_column(column, no_wrap=column != "assignee", overflow="fold")
    items = body.get("items") or []
    for item in items:
        table.add_row(
            f"{item.get('review_task_id')}\n{item.get('citizen_id')}, {item.get('scheme_name')}",
            _text(item.get("status")),
            _overdue(item.get("overdue")),
            _day_and_minute(item.get("due_at")),
            _text(item.get("assignee")),
        )
    summary = f"{len(items)} review task{'' if len(items) == 1 else 's'}"
    if body.get("next_offset") is not None:
        summary += f"; next page: {next_command} --offset {body['next_offset']}"
    return Group(table, Text(summary))


def task(body: dict[str, Any]) -> RenderableType:
    """GET /reviews/{id}, or the answer of claim, unclaim, reassign and decide: the task and the engine's reasons."""
    fields = Table(box=box.SIMPLE, show_header=False, pad_edge=False)
    fields.add_column(style="bold")
    fields.add_column(overflow="fold")
    rows: list[tuple[str, Any]] = [
        ("review task", body.get("review_task_id")),
        ("status", _text(body.get("status"))),
        ("run", body.get("instance_id")),
        ("citizen", body.get("citizen_id")),
        ("scheme", f"{body.get('scheme_name')} version {body.get('scheme_version')}"),
        ("recommended", _text(body.get("recommendation"))),
        ("submitted by", body.get("submitted_by")),
        ("reviewer role", body.get("candidate_role")),
        ("assignee", _text(body.get("assignee"))),
        ("created", body.get("created_at")),
        ("due", body.get("due_at")),
        ("overdue", _overdue(body.get("overdue"))),
    ]
    if body.get("claim_expires_at"):
        rows.append(("claim lapses", body["claim_expires_at"]))
    if body.get("decision"):
        rows += [
            ("decision", _text(body["decision"])),
            ("justification", body.get("justification")),
            ("decided", body.get("decided_at")),
        ]
    for name, value in rows:
        fields.add_row(name, value if isinstance(value, Text) else _text(value))
    reasons = Table(box=box.SIMPLE)
    for column in ("criterion", "passed", "detail"):
        reasons.add_column(column)
    for reason in body.get("reasons") or []:
        if not isinstance(reason, dict):
            continue
        passed = reason.get("passed")
        reasons.add_row(
            str(reason.get("criterion")),
            Text("yes" if passed else "no", "green" if passed else "red"),
            str(reason.get("detail", "")),
        )
    return Group(fields, Text("The engine's reasons", style="bold"), reasons)


def _day_and_minute(timestamp: Any) -> str:
    # Read at a glance; `show` and --json have the whole timestamp.
    return str(timestamp)[:16].replace("T", "\n") if timestamp else "-"
