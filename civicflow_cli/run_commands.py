"""`civicflow runs cancel` and `runs retry`: cancel a run that has not ended, retry one that failed or was cancelled.

They join `runs list` (run_list_commands.py, which makes the `runs` command) in one group.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from civicflow_cli import render
from civicflow_cli.api import Api
from civicflow_cli.follow import follow

EXIT_OK = 0
EXIT_FAILED = 1
# How a run ends well: completed, or (for now) waiting for a person's review.
SETTLED_WELL = ("completed", "waiting")


def cancel_run(api: Api, arguments: argparse.Namespace, output: Any) -> int:
    body = dict(api.post(f"/workflows/{arguments.instance_id}/cancel", {}).json())
    output.show(body, render.instance(body))
    return EXIT_OK


def retry_run(api: Api, arguments: argparse.Namespace, output: Any) -> int:
    """Starts the retry and follows it to its end, as `civicflow run` does; --detach prints its id alone."""
    started = dict(api.post(f"/workflows/{arguments.instance_id}/retry", {}).json())
    instance_id = str(started["instance_id"])
    if arguments.detach:
        output.show_id(started, instance_id)
        return EXIT_OK
    try:
        final = follow(api, instance_id, console=output.errors, label=f"retry {instance_id[:8]}")
    except KeyboardInterrupt:
        output.errors.print(f"stopped following; the retry goes on: civicflow watch {instance_id}")
        raise
    output.show(final, render.instance(final))
    return EXIT_OK if final.get("status") in SETTLED_WELL else EXIT_FAILED


RUN_OPERATIONS = {"cancel": cancel_run, "retry": retry_run}


def add_run_operations(
    subcommand: Callable[[str, str], argparse.ArgumentParser], *, instance_id: Callable[[str], str]
) -> None:
    """`cancel` and `retry` in the `runs` group (`subcommand` adds a parser to it, with the global options)."""

    def one_run(name: str, help_text: str) -> argparse.ArgumentParser:
        parser = subcommand(name, help_text)
        parser.add_argument("instance_id", type=instance_id, metavar="ID")
        return parser

    one_run("cancel", "cancel a queued, running or waiting run (admin, or whoever started it); shows it cancelled")
    retry = one_run(
        "retry",
        "a new run of a failed or cancelled one, reusing the steps it completed; follows it until it ends",
    )
    retry.add_argument("--detach", action="store_true", help="start the retry, print its id alone and return at once")
