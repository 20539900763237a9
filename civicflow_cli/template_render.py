"""Tables of template versions and of a reload's outcome."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text


def versions(body: dict[str, Any]) -> RenderableType:
    table = Table(box=box.SIMPLE, title=f"Template {body.get('template_id')}", title_justify="left")
    for column in ("version", "current", "file", "loaded at", "digest"):
        table.add_column(column, no_wrap=True)
    for version in body.get("versions") or []:
        table.add_row(*_version_row(version))
    return table


def reload(body: dict[str, Any]) -> RenderableType:
    parts: list[RenderableType] = []
    loaded = body.get("loaded") or []
    if loaded:
        table = Table(box=box.SIMPLE, title="Loaded", title_justify="left")
        for column in ("template", "version", "file", "loaded at", "digest"):
            table.add_column(column, no_wrap=True)
        for version in loaded:
            table.add_row(str(version.get("template_id")), *_version_row(version)[:1], *_version_row(version)[2:])
        parts.append(table)
    else:
        parts.append(Text("Nothing new loaded."))
    for problem in body.get("problems") or []:
        where = (
            f"{problem.get('file')}: {problem.get('location')}: "
            if problem.get("location")
            else f"{problem.get('file')}: "
        )
        parts.append(Text(where + str(problem.get("message")), style="red"))
    return Group(*parts)


def _version_row(version: dict[str, Any]) -> list[str]:
    return [
        str(version.get("version")),
        "yes" if version.get("current") else "",
        str(version.get("source_file")),
        str(version.get("loaded_at")),
        str(version.get("digest", ""))[:12],
    ]
