"""Tables of the scheme routes' answers: the schemes, one scheme's versions, one version and its criteria."""

from __future__ import annotations

import json
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

STATUS_STYLES = {"published": "green", "draft": "yellow"}


def _text(value: Any) -> Text:
    text = "-" if value is None else str(value)
    return Text(text, style=STATUS_STYLES.get(text, ""))


def schemes(items: list[dict[str, Any]]) -> RenderableType:
    """GET /schemes."""
    table = Table(box=box.SIMPLE)
    for column in ("scheme", "version in force", "effective from"):
        table.add_column(column)
    for item in items:
        table.add_row(
            str(item.get("scheme_name")), _text(item.get("current_version")), _text(item.get("effective_from"))
        )
    return table


def scheme(body: dict[str, Any]) -> RenderableType:
    """GET /schemes/{name}: every version, oldest first."""
    table = Table(box=box.SIMPLE)
    for column in ("version", "status", "effective from", "created by", "published by", "rule hash"):
        table.add_column(column)
    for item in body.get("versions") or []:
        table.add_row(
            str(item.get("version")),
            _text(item.get("status")),
            _text(item.get("effective_from")),
            _text(item.get("created_by")),
            _text(item.get("published_by")),
            str(item.get("rule_hash") or "-")[:16],
        )
    return Group(Text(f"Scheme {body.get('scheme_name')}", style="bold"), table)


def version(body: dict[str, Any]) -> RenderableType:
    """One version: its status and, when the answer has it, its parameters and criteria."""
    heading = Text(
        f"{body.get('scheme_name')} version {body.get('version')}: {body.get('status')}"
        + (f" from {body['effective_from']}" if body.get("effective_from") else ""),
        style="bold",
    )
    parts: list[RenderableType] = [heading, Text(f"rule hash {body.get('rule_hash')}")]
    document = body.get("document")
    if isinstance(document, dict):
        parameters = Table(box=box.SIMPLE)
        parameters.add_column("parameter")
        parameters.add_column("value")
        for name, value in (document.get("parameters") or {}).items():
            parameters.add_row(name, json.dumps(value))
        criteria = Table(box=box.SIMPLE)
        for column in ("criterion", "kind", "description"):
            criteria.add_column(column)
        for criterion in document.get("criteria") or []:
            criteria.add_row(
                str(criterion.get("id")), str(criterion.get("kind")), str(criterion.get("description", ""))
            )
        parts += [Text(str(document.get("description", ""))), parameters, criteria]
    return Group(*parts)
