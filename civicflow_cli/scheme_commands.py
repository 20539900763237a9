"""`civicflow schemes ...`: read a scheme's versions, draft a new one from a file, publish one from a date."""

from __future__ import annotations

import argparse
import datetime
import json
from collections.abc import Callable
from typing import Any

from civicflow_cli import scheme_render
from civicflow_cli.api import Api
from civicflow_cli.inputs import read_json_object

EXIT_OK = 0


def list_schemes(api: Api, _arguments: argparse.Namespace, output: Any) -> int:
    items = list(api.get("/schemes"))
    output.show(items, scheme_render.schemes(items))
    return EXIT_OK


def show_scheme(api: Api, arguments: argparse.Namespace, output: Any) -> int:
    if arguments.version is None:
        body = dict(api.get(f"/schemes/{arguments.scheme_name}"))
        output.show(body, scheme_render.scheme(body))
    else:
        body = dict(api.get(f"/schemes/{arguments.scheme_name}/versions/{arguments.version}"))
        output.show(body, scheme_render.version(body))
    return EXIT_OK


def draft_version(api: Api, arguments: argparse.Namespace, output: Any) -> int:
    document = read_json_object(arguments.document_file)
    body = dict(api.post(f"/schemes/{arguments.scheme_name}/versions", document).json())
    output.show(body, scheme_render.version(body))
    return EXIT_OK


def publish_version(api: Api, arguments: argparse.Namespace, output: Any) -> int:
    path = f"/schemes/{arguments.scheme_name}/versions/{arguments.version}/publish"
    body = dict(api.post(path, {"effective_from": arguments.effective_from}).json())
    output.show(body, scheme_render.version(body))
    return EXIT_OK


def show_schema(api: Api, _arguments: argparse.Namespace, output: Any) -> int:
    body = dict(api.get("/schemes/schema"))
    if output.as_json:
        output.show(body, "")
    else:
        output.console.file.write(json.dumps(body, indent=2) + "\n")
        output.console.file.flush()
    return EXIT_OK


SCHEME_COMMANDS = {
    "list": list_schemes,
    "show": show_scheme,
    "draft": draft_version,
    "publish": publish_version,
    "schema": show_schema,
}


def run_scheme_command(api: Api, arguments: argparse.Namespace, output: Any) -> int:
    return SCHEME_COMMANDS[arguments.scheme_command](api, arguments, output)


def date_argument(text: str) -> str:
    try:
        return datetime.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def add_scheme_commands(
    command: Callable[[str, str], argparse.ArgumentParser],
    *,
    version_number: Callable[[str], int],
    global_options: Callable[[argparse.ArgumentParser], None],
) -> None:
    """The `schemes` command and its own commands, on the CLI's parser (`command` makes a subcommand parser)."""
    schemes = command("schemes", "scheme rules as versioned documents: list, show, draft, publish")
    scheme_commands = schemes.add_subparsers(dest="scheme_command", required=True, metavar="SCHEME_COMMAND")

    def subcommand(name: str, help_text: str) -> argparse.ArgumentParser:
        parser = scheme_commands.add_parser(name, help=help_text, description=help_text)
        global_options(parser)
        return parser

    subcommand("list", "every scheme with the version in force today")
    show = subcommand("show", "a scheme's versions, or one version with its document")
    show.add_argument("scheme_name", metavar="SCHEME")
    show.add_argument("version", type=version_number, nargs="?", metavar="VERSION")
    draft = subcommand("draft", "store a document as the scheme's next version, a draft (analyst, admin)")
    draft.add_argument("scheme_name", metavar="SCHEME")
    draft.add_argument("document_file", metavar="FILE", help="the document as JSON ('-' reads standard input)")
    publish = subcommand("publish", "publish a draft from a date (admin, and not whoever drafted it)")
    publish.add_argument("scheme_name", metavar="SCHEME")
    publish.add_argument("version", type=version_number, metavar="VERSION")
    publish.add_argument("--effective-from", type=date_argument, required=True, metavar="YYYY-MM-DD")
    subcommand("schema", "the JSON Schema every scheme document satisfies")
