"""`civicflow runs list`: runs newest first, with the run list's filters, a page at a time or (--all) every page."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from civicflow_cli import run_list_render
from civicflow_cli.api import Api
from civicflow_cli.run_commands import RUN_OPERATIONS, add_run_operations

EXIT_OK = 0
STATUSES = ("queued", "running", "waiting", "completed", "failed", "cancelled")
MAX_PAGE_SIZE = 500


def list_runs(api: Api, arguments: argparse.Namespace, output: Any) -> int:
    filters = {
        "template_id": arguments.template,
        "status": arguments.status,
        "citizen_id": arguments.citizen,
        "actor": arguments.actor,
        "created_after": arguments.created_after,
        "created_before": arguments.created_before,
        "limit": arguments.limit,
    }
    params = {name: value for name, value in filters.items() if value is not None}
    cursor = arguments.cursor
    items: list[dict[str, Any]] = []
    while True:
        body = dict(api.get("/workflows", **params, **({"cursor": cursor} if cursor else {})))
        items += body["items"]
        cursor = body.get("next_cursor")
        if not (arguments.all and cursor):
            break
    shown = {"items": items, "next_cursor": cursor}
    output.show(shown, run_list_render.runs(shown, next_command=_same_list(arguments)))
    return EXIT_OK


def _same_list(arguments: argparse.Namespace) -> str:
    """The command that lists the same runs, for the next page's hint."""
    parts = ["civicflow", "runs", "list"]
    for option, value in (
        ("--template", arguments.template),
        ("--status", arguments.status),
        ("--citizen", arguments.citizen),
        ("--actor", arguments.actor),
        ("--created-after", arguments.created_after),
        ("--created-before", arguments.created_before),
        ("--limit", arguments.limit),
    ):
        if value is not None:
            parts += [option, str(value)]
    return shlex.join(parts)


def run_run_command(api: Api, arguments: argparse.Namespace, output: Any) -> int:
    return {"list": list_runs, **RUN_OPERATIONS}[arguments.run_command](api, arguments, output)


def moment(text: str) -> str:
    """A time as ISO 8601; without a UTC offset it is taken as UTC (a date alone is its midnight)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date or time (ISO 8601, e.g. 2026-12-01T09:00Z)") from None
    return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).isoformat()


def add_run_commands(
    command: Callable[[str, str], argparse.ArgumentParser],
    *,
    count: Callable[[int], Callable[[str], int]],
    instance_id: Callable[[str], str],
    global_options: Callable[[argparse.ArgumentParser], None],
) -> None:
    """The `runs` command and its own commands, on the CLI's parser (`command` makes a subcommand parser)."""
    runs = command(
        "runs", "workflow runs: list them (by template, status, citizen, actor or time), cancel one, retry one"
    )
    run_commands = runs.add_subparsers(dest="run_command", required=True, metavar="RUNS_COMMAND")

    def subcommand(name: str, help_text: str) -> argparse.ArgumentParser:
        parser = run_commands.add_parser(name, help=help_text, description=help_text)
        global_options(parser)
        return parser

    add_run_operations(subcommand, instance_id=instance_id)
    help_text = "one page of runs, newest first: only those of templates your roles may read"
    listing = run_commands.add_parser("list", help=help_text, description=help_text)
    global_options(listing)
    listing.add_argument("--template", metavar="TEMPLATE", help="only runs of this template")
    listing.add_argument("--status", choices=STATUSES, help="only runs in this status")
    listing.add_argument("--citizen", metavar="CITIZEN_ID", help="only runs whose inputs name this citizen")
    listing.add_argument("--actor", metavar="SUBJECT", help="only runs this subject started")
    listing.add_argument("--created-after", type=moment, metavar="TIME", help="only runs created at TIME or later")
    listing.add_argument("--created-before", type=moment, metavar="TIME", help="only runs created before TIME")
    listing.add_argument("--limit", type=count(1), help=f"runs on a page, at most {MAX_PAGE_SIZE} (default: 50)")
    listing.add_argument("--cursor", metavar="CURSOR", help="start where the page that gave this cursor ended")
    listing.add_argument("--all", action="store_true", help="every page, following the cursors to the last")
