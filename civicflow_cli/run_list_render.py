"""The table of the run list (GET /workflows): one run a row, in two lines so that its whole id fits 80 columns."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

STATUS_STYLES = {
    "queued": "cyan",
    "running": "cyan",
    "waiting": "yellow",
    "completed": "green",
    "failed": "red",
    "cancelled": "dim",
}


def runs(body: dict[str, Any], *, next_command: str) -> RenderableType:
    """The runs, and the command for the next page if there is one."""
    table = Table(box=box.SIMPLE, pad_edge=False, collapse_padding=True)
    table.add_column("run\ntemplate, version", no_wrap=True, min_width=36)
    table.add_column("status", no_wrap=True)
    table.add_column("created (UTC)\nended", no_wrap=True)
    table.add_column("actor", overflow="fold")
    items = body.get("items") or []
    for item in items:
        status = str(item.get("status"))
        table.add_row(
            f"{item.get('instance_id')}\n{item.get('template_id')}, {item.get('template_version')}",
            Text(status, style=STATUS_STYLES.get(status, "")),
            f"{_minute(item.get('created_at'))}\n{_minute(item.get('completed_at'))}",
            str(item.get("actor") or "-"),
        )
    summary = f"{len(items)} run{'' if len(items) == 1 else 's'}"
    if body.get("next_cursor"):
        summary += f"; next page: {next_command} --cursor {body['next_cursor']}"
    return Group(table, Text(summary))


def _minute(timestamp: Any) -> str:
    # Read at a glance; `show` and --json have the whole timestamp.
    return str(timestamp)[:16].replace("T", " ") if timestamp else "-"
