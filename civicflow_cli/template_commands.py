"""`civicflow templates ...`: list the current templates, show one's versions, reload them (admin), validate files.

`validate` is the one command that needs no server: it checks files with the checks a reload makes.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from civicflow_cli import render, template_render
from civicflow_cli.api import Api

EXIT_OK = 0
EXIT_PROBLEMS = 1


def list_templates(api: Api, _arguments: argparse.Namespace, output: Any) -> int:
    items = api.templates()
    output.show(items, render.templates(items))
    return EXIT_OK


def show_template(api: Api, arguments: argparse.Namespace, output: Any) -> int:
    body = dict(api.get(f"/templates/{arguments.template_id}"))
    output.show(body, template_render.versions(body))
    return EXIT_OK


def reload_templates(api: Api, _arguments: argparse.Namespace, output: Any) -> int:
    """Exit status 1 when a file was refused: a deployment script stops there."""
    body = dict(api.post("/templates/reload", {}).json())
    output.show(body, template_render.reload(body))
    return EXIT_PROBLEMS if body.get("problems") else EXIT_OK


TEMPLATE_COMMANDS = {"list": list_templates, "show": show_template, "reload": reload_templates}


def run_template_command(api: Api, arguments: argparse.Namespace, output: Any) -> int:
    return TEMPLATE_COMMANDS[arguments.template_command or "list"](api, arguments, output)


def validate_files(arguments: argparse.Namespace, output: Any) -> int:
    """Every problem of every file, one `file: location: message` line each; exit 1 if there is one."""
    # Imported here: the task contracts bring the orchestrator's modules, which no other command needs.
    from orchestrator.tasks import TASK_CONTRACTS
    from orchestrator.templates.file_check import check_files

    problems = check_files(arguments.files, TASK_CONTRACTS)
    body = [{"file": p.file, "location": p.location, "message": p.message} for p in problems]
    if output.as_json:
        output.show(body, "")
    else:
        for problem in problems:
            output.console.file.write(f"{problem}\n")
        if not problems:
            output.console.file.write(f"{len(arguments.files)} file(s) valid\n")
        output.console.file.flush()
    return EXIT_PROBLEMS if problems else EXIT_OK


def is_offline(arguments: argparse.Namespace) -> bool:
    return bool(arguments.command == "templates" and arguments.template_command == "validate")


def add_template_commands(
    command: Callable[[str, str], argparse.ArgumentParser],
    *,
    global_options: Callable[[argparse.ArgumentParser], None],
) -> None:
    """The `templates` command and its own commands; `civicflow templates` alone lists them, as it always has."""
    templates = command("templates", "workflow templates: list, show one's versions, reload (admin), validate files")
    template_commands = templates.add_subparsers(dest="template_command", required=False, metavar="TEMPLATE_COMMAND")

    def subcommand(name: str, help_text: str) -> argparse.ArgumentParser:
        parser = template_commands.add_parser(name, help=help_text, description=help_text)
        global_options(parser)
        return parser

    subcommand("list", "the current version of every template, with its inputs and steps (the default)")
    show = subcommand("show", "every version of a template, oldest first, the current one marked")
    show.add_argument("template_id", metavar="TEMPLATE")
    subcommand("reload", "read the template directory now (admin): what loaded, and every problem")
    validate = subcommand(
        "validate", "check template files offline with the orchestrator's checks (exit 1 with every problem)"
    )
    validate.add_argument("files", type=Path, nargs="+", metavar="FILE")
