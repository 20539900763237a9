"""Readable tables of the API's answers, drawn with rich; `--json` bypasses all of this."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from civicflow.decisions import NAMES_IN_ORDER

DECISIONS = NAMES_IN_ORDER
STYLES = {
    "ELIGIBLE": "green",
    "NOT_ELIGIBLE": "red",
    "NEEDS_REVIEW": "yellow",
    "completed": "green",
    "success": "green",
    "failed": "bold red",
    "running": "cyan",
    "queued": "magenta",
    "waiting": "yellow",
    "cancelled": "dim",
    "decision_changed": "yellow",
    "decision_upheld": "green",
    "run_failed": "bold red",
}
# Outputs shown as their own tables rather than as JSON.
DECISION_OUTPUT = "decision"
REPORT_OUTPUT = "impact_report"
COMPACT_JSON_LIMIT = 160


def styled(value: Any) -> Text:
    text = "-" if value is None else str(value)
    return Text(text, style=STYLES.get(text, ""))


def compact_json(value: Any, limit: int = COMPACT_JSON_LIMIT) -> str:
    text = json.dumps(value, separators=(", ", ": "), ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _titled(title: str | Text, table: Table) -> RenderableType:
    # A heading of its own rather than the table's title, which would wrap at the table's width.
    return Group(Text(title, style="bold") if isinstance(title, str) else title, table)


def _fields(rows: list[tuple[str, Any]]) -> Table:
    table = Table(box=box.SIMPLE, show_header=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for name, value in rows:
        table.add_row(name, value if isinstance(value, Text) else styled(value))
    return table


def _progress_text(progress: dict[str, Any] | None) -> str | None:
    if not progress:
        return None
    text = f"step {progress.get('steps_completed', 0)} of {progress.get('steps_total', 0)}"
    if progress.get("items_total"):
        text += f", {progress.get('items_done', 0):,} of {progress['items_total']:,} items"
    return text


def instance(body: dict[str, Any]) -> RenderableType:
    """GET /workflows/{id}, or the answer of a run: the instance, then its decision or report if it has one."""
    rows: list[tuple[str, Any]] = [
        ("instance", body.get("instance_id")),
        ("template", " ".join(str(part) for part in (body.get("template_id"), body.get("template_version")) if part)),
        ("status", body.get("status")),
    ]
    if body.get("error"):
        rows.append(("error", Text(str(body["error"]), style="red")))
    review_task_id = (body.get("waiting_for") or {}).get("review_task_id")
    if review_task_id:
        rows.append(("waiting for", f"review task {review_task_id}"))
    if (progress := _progress_text(body.get("progress"))) is not None:
        rows.append(("progress", progress))
    if body.get("appealed_instance_id"):
        rows.append(("appeal of", body["appealed_instance_id"]))
    if body.get("retry_of"):
        rows.append(("retry of", body["retry_of"]))
    if body.get("retried_by"):
        rows.append(("retried by", body["retried_by"]))
    for name in ("created_at", "completed_at"):
        if body.get(name):
            rows.append((name.replace("_at", ""), body[name]))
    if "inputs" in body:
        rows.append(("inputs", compact_json(body["inputs"])))
    outputs: dict[str, Any] = body.get("outputs") or {}
    shown = (DECISION_OUTPUT, REPORT_OUTPUT)
    rows += [(f"output {name}", compact_json(value)) for name, value in outputs.items() if name not in shown]
    parts: list[RenderableType] = [_fields(rows)]
    if isinstance(outputs.get(DECISION_OUTPUT), dict):
        parts.append(decision(outputs[DECISION_OUTPUT]))
    if isinstance(outputs.get(REPORT_OUTPUT), dict):
        parts.append(impact_report(outputs[REPORT_OUTPUT]))
    return Group(*parts)


def decision(body: dict[str, Any]) -> RenderableType:
    """A decision and the engine's reasons; a reviewed one also says who decided it, why, and what was recommended."""
    table = Table(box=box.SIMPLE)
    table.add_column("criterion")
    table.add_column("passed")
    table.add_column("detail")
    for reason in body.get("reasons") or []:
        passed = reason.get("passed")
        verdict = Text("yes" if passed else "no", "green" if passed else "red")
        table.add_row(str(reason.get("criterion")), verdict, str(reason.get("detail", "")))
    title = Text.assemble(("Decision: ", "bold"), styled(body.get("decision")))
    if not body.get("reviewed_by"):
        return _titled(title, table)
    recommended = body.get("recommended") or {}
    review = _fields(
        [
            ("reviewed by", body["reviewed_by"]),
            ("justification", body.get("justification")),
            ("recommended", recommended.get("decision")),
            ("review task", body.get("review_task_id")),
        ]
    )
    return Group(title, review, table)


def impact_report(body: dict[str, Any]) -> RenderableType:
    """GET /workflows/report/{id}: counts under current and proposed rules, the transitions, the rules, the digest."""
    total = int(body.get("total") or 0)
    baseline = body.get("baseline") or {}
    counts = Table(box=box.SIMPLE)
    for column in ("decision", "current rules", "proposed rules", "change"):
        counts.add_column(column, justify="left" if column == "decision" else "right")
    for name in DECISIONS:
        now, proposed = int(baseline.get(name.lower(), 0)), int(body.get(name.lower(), 0))
        counts.add_row(styled(name), f"{now:,}", f"{proposed:,}", f"{proposed - now:+,}")
    transitions = Table(box=box.SIMPLE)
    transitions.add_column("current \\ proposed")
    for name in DECISIONS:
        transitions.add_column(name, justify="right")
    moved = {(item.get("from"), item.get("to")): int(item.get("count", 0)) for item in body.get("transitions") or []}
    for source in DECISIONS:
        transitions.add_row(styled(source), *(f"{moved.get((source, target), 0):,}" for target in DECISIONS))
    current_rules, proposed_rules = body.get("current_rules") or {}, body.get("proposed_rules") or {}
    rules = Table(box=box.SIMPLE)
    for column in ("rule", "current", "proposed"):
        rules.add_column(column)
    for name in sorted(set(current_rules) | set(proposed_rules)):
        now, then = current_rules.get(name, "-"), proposed_rules.get(name, "-")
        rules.add_row(name, str(now), Text(str(then), "bold" if now != then else ""))
    footer = [
        ("instance", body.get("instance_id")),
        ("versions", f"{_version(body.get('baseline_version'))} -> {_version(body.get('proposed_version'))}"),
        ("results digest", body.get("results_digest")),
    ]
    if body.get("failed"):
        footer.append(("failed citizens", Text(f"{int(body['failed']):,}", style="red")))
    return Group(
        _titled(f"Impact of the proposed rules on {body.get('scheme_name')}: {total:,} citizens", counts),
        _titled("By category (current -> proposed)", _by_category(body.get("by_category") or {})),
        _titled("From current to proposed decision", transitions),
        _titled("Rules", rules),
        _fields(footer),
    )


def _by_category(by_category: dict[str, Any]) -> Table:
    table = Table(box=box.SIMPLE)
    table.add_column("category")
    table.add_column("citizens", justify="right")
    for name in DECISIONS:
        table.add_column(name, justify="right")
    for category, counts in by_category.items():
        baseline = counts.get("baseline") or {}
        moves = (f"{int(baseline.get(n.lower(), 0)):,} -> {int(counts.get(n.lower(), 0)):,}" for n in DECISIONS)
        table.add_row(category, f"{int(counts.get('total', 0)):,}", *moves)
    return table


def _version(version: Any) -> str:
    """A report's version field: null is a proposal of overridden parameters (or a report from before versions)."""
    return "overrides" if version is None else f"v{version}"


def results_page(body: dict[str, Any], instance_id: str) -> RenderableType:
    """GET /workflows/report/{id}/results: one page of per-citizen decisions, and how to get the next."""
    table = Table(box=box.SIMPLE)
    for column in ("position", "citizen", "current rules", "proposed rules", ""):
        table.add_column(column, justify="right" if column == "position" else "left")
    for row in body.get("results") or []:
        changed = row.get("decision") != row.get("baseline_decision")
        table.add_row(
            f"{row.get('position'):,}",
            str(row.get("citizen_id")),
            styled(row.get("baseline_decision")),
            styled(row.get("decision")),
            Text("changed", "bold") if changed else "",
        )
    total, offset = int(body.get("total", 0)), int(body.get("offset", 0))
    shown = len(body.get("results") or [])
    if shown:
        summary = f"citizens {offset + 1:,} to {offset + shown:,} of {total:,}"
    else:
        summary = f"no citizens at offset {offset:,} ({total:,} in all)"
    next_offset = int(body.get("next_offset", total))
    if next_offset < total:
        summary += f"; next page: civicflow results {instance_id} --offset {next_offset}"
    return Group(table, Text(summary))


def audit_trail(entries: list[dict[str, Any]], instance_id: str) -> RenderableType:
    table = Table(box=box.SIMPLE)
    for column in ("seq", "step", "attempt", "status", "started (UTC)", "ms", "error"):
        numeric = column in ("seq", "attempt", "ms")
        table.add_column(column, justify="right" if numeric else "left", no_wrap=column != "error")
    for entry in entries:
        table.add_row(
            str(entry.get("seq")),
            f"{entry.get('step_index')} {entry.get('step_name')}",
            str(entry.get("attempt")),
            styled(entry.get("status")),
            _time_of_day(entry.get("started_at")),
            _milliseconds(entry.get("started_at"), entry.get("completed_at")),
            Text(str(entry.get("error") or ""), style="red"),
        )
    return _titled(f"Audit trail of {instance_id}", table)


def _time_of_day(timestamp: str | None) -> str:
    # The date is the run's; the time tells the steps apart. --json has the full timestamps.
    try:
        return datetime.fromisoformat(timestamp).strftime("%H:%M:%S.%f")[:-3] if timestamp else "-"
    except ValueError:
        return timestamp or "-"


def _milliseconds(started: str | None, completed: str | None) -> str:
    if not started or not completed:
        return "-"
    try:
        elapsed = datetime.fromisoformat(completed) - datetime.fromisoformat(started)
    except ValueError:
        return "-"
    return f"{elapsed.total_seconds() * 1000:.1f}"


def appeal(body: dict[str, Any]) -> RenderableType:
    rows: list[tuple[str, Any]] = [
        ("appeal", body.get("appeal_id")),
        ("original instance", body.get("original_instance_id")),
        ("new instance", body.get("new_instance_id")),
        ("decision", Text.assemble(styled(body.get("original_decision")), " -> ", styled(body.get("new_decision")))),
        ("outcome", body.get("outcome")),
        ("status", body.get("status")),
    ]
    if body.get("error"):
        rows.append(("error", Text(str(body["error"]), style="red")))
    return _titled("Appeal", _fields(rows))


def templates(items: list[dict[str, Any]]) -> RenderableType:
    table = Table(box=box.SIMPLE)
    for column in ("template", "version", "inputs (* required)", "steps"):
        table.add_column(column, no_wrap=True)
    for item in items:
        schema = item.get("input_schema") or {}
        required = set(schema.get("required") or [])
        inputs = "\n".join(name + ("*" if name in required else "") for name in schema.get("properties") or {})
        steps = "\n".join(item.get("steps") or [])
        table.add_row(str(item.get("template_id")), str(item.get("version")), inputs, steps)
    # Descriptions below the table, where they may wrap across the whole width.
    descriptions = _fields([(str(item.get("template_id")), str(item.get("description", ""))) for item in items])
    return Group(_titled("Templates", table), descriptions)
