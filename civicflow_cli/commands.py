"""One function per command: call the API, then print a table, or the raw JSON with --json; return the exit status."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console, RenderableType

from civicflow.auth.local_issuer import LocalTokenIssuer
from civicflow_cli import render
from civicflow_cli.api import Api, CliError
from civicflow_cli.arguments import DEFAULT_ISSUER_KEY, ISSUER_KEY_VARIABLE
from civicflow_cli.follow import follow
from civicflow_cli.inputs import UsageError, merge_assignments, read_json_object
from civicflow_cli.review_commands import run_review_command
from civicflow_cli.run_list_commands import run_run_command
from civicflow_cli.scheme_commands import run_scheme_command
from civicflow_cli.template_commands import run_template_command

EXIT_OK = 0
EXIT_FAILED = 1
COMPLETED = "completed"
# A run parked for a person's review has not failed: its review task decides how it ends.
WAITING = "waiting"


@dataclass(frozen=True)
class Output:
    console: Console
    # Progress, spinners and errors: kept off standard output, which carries only the answer.
    errors: Console
    as_json: bool

    def show(self, body: Any, table: RenderableType) -> None:
        if self.as_json:
            self.console.file.write(json.dumps(body, indent=2, ensure_ascii=False) + "\n")
            self.console.file.flush()
        else:
            self.console.print(table)

    def show_id(self, body: Any, instance_id: str) -> None:
        """The id alone on one line, for `id=$(civicflow run --detach ...)`; the whole answer with --json."""
        if self.as_json:
            self.show(body, instance_id)
        else:
            # Written as it is: the console would highlight or wrap it on a terminal.
            self.console.file.write(instance_id + "\n")
            self.console.file.flush()


def run_workflow(api: Api, arguments: argparse.Namespace, output: Output) -> int:
    inputs = _inputs(api, arguments)
    key = arguments.idempotency_key
    if arguments.sync:
        with output.errors.status(f"running {arguments.template_id}…"):
            finished = api.execute(arguments.template_id, inputs, asynchronous=False, idempotency_key=key)
        return _finished(finished, output)
    started = api.execute(arguments.template_id, inputs, asynchronous=True, idempotency_key=key)
    instance_id = str(started["instance_id"])
    if arguments.detach:
        output.show_id(started, instance_id)
        return EXIT_OK
    return _followed(api, instance_id, output, label=arguments.template_id)


def _inputs(api: Api, arguments: argparse.Namespace) -> dict[str, Any]:
    base = read_json_object(arguments.inputs_file) if arguments.inputs_file else {}
    if not arguments.input:
        return base
    schemas = {item.get("template_id"): item.get("input_schema") for item in api.templates()}
    # An unknown template gets no schema: the run request then answers 404 with the API's own words.
    return merge_assignments(base, arguments.input, schemas.get(arguments.template_id))


def _followed(api: Api, instance_id: str, output: Output, *, label: str) -> int:
    try:
        final = follow(api, instance_id, console=output.errors, label=f"{label} {instance_id[:8]}")
    except KeyboardInterrupt:
        output.errors.print(f"stopped following; the run goes on: civicflow watch {instance_id}")
        raise
    return _finished(final, output)


def _finished(body: dict[str, Any], output: Output) -> int:
    output.show(body, render.instance(body))
    return EXIT_OK if body.get("status") in (COMPLETED, WAITING) else EXIT_FAILED


def show_instance(api: Api, arguments: argparse.Namespace, output: Output) -> int:
    body = api.instance(arguments.instance_id)
    output.show(body, render.instance(body))
    return EXIT_OK


def watch_instance(api: Api, arguments: argparse.Namespace, output: Output) -> int:
    return _followed(api, arguments.instance_id, output, label="run")


def show_audit(api: Api, arguments: argparse.Namespace, output: Output) -> int:
    entries = list(api.get(f"/workflows/{arguments.instance_id}/audit"))
    output.show(entries, render.audit_trail(entries, arguments.instance_id))
    return EXIT_OK


def show_report(api: Api, arguments: argparse.Namespace, output: Output) -> int:
    body = dict(api.get(f"/workflows/report/{arguments.instance_id}"))
    output.show(body, render.impact_report(body))
    return EXIT_OK


def show_results(api: Api, arguments: argparse.Namespace, output: Output) -> int:
    path = f"/workflows/report/{arguments.instance_id}/results"
    body = dict(api.get(path, offset=arguments.offset, limit=arguments.limit))
    output.show(body, render.results_page(body, arguments.instance_id))
    return EXIT_OK


def submit_appeal(api: Api, arguments: argparse.Namespace, output: Output) -> int:
    base = read_json_object(arguments.new_data_file) if arguments.new_data_file else {}
    new_data = merge_assignments(base, arguments.new_data, None)
    if not new_data:
        raise UsageError("an appeal needs new data: --new-data KEY=VALUE (age, income, category) or --new-data-file")
    response = api.post(
        "/workflows/appeal",
        {"original_instance_id": arguments.instance_id, "new_data": new_data},
        idempotency_key=arguments.idempotency_key,
    )
    body = dict(response.json())
    output.show(body, render.appeal(body))
    return EXIT_OK if body.get("status") == COMPLETED else EXIT_FAILED


COMMANDS = {
    "templates": run_template_command,
    "run": run_workflow,
    "show": show_instance,
    "watch": watch_instance,
    "audit": show_audit,
    "report": show_report,
    "results": show_results,
    "appeal": submit_appeal,
    "schemes": run_scheme_command,
    "reviews": run_review_command,
    "runs": run_run_command,
}


def issue_token(arguments: argparse.Namespace, output: Output) -> int:
    """The bare token on standard output, so that TOKEN=$(civicflow token issue ...) works."""
    key = arguments.key or Path(os.environ.get(ISSUER_KEY_VARIABLE) or DEFAULT_ISSUER_KEY)
    try:
        token = LocalTokenIssuer(key).issue(arguments.subject, arguments.role, ttl_seconds=arguments.ttl)
    except (OSError, ValueError) as error:
        raise CliError(f"cannot sign with the issuer's key {key}: {error}") from None
    output.console.file.write(token + "\n")
    output.console.file.flush()
    return EXIT_OK


# Commands that need no gateway.
LOCAL_COMMANDS = {"token": issue_token}
