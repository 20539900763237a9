"""`civicflow`: parses the command line, talks to the gateway, and turns every failure into a message and a status."""

from __future__ import annotations

import os
import sys

import httpx2
from rich.console import Console
from rich.markup import escape

from civicflow_cli.api import Api, ApiError, CliError
from civicflow_cli.arguments import DEFAULT_URL, TOKEN_VARIABLE, URL_VARIABLE, build_parser
from civicflow_cli.commands import COMMANDS, LOCAL_COMMANDS, Output
from civicflow_cli.inputs import UsageError
from civicflow_cli.template_commands import is_offline, validate_files

EXIT_API_ERROR = 1
EXIT_USAGE = 2
# 128 + SIGINT, as shells report a program stopped with Ctrl-C.
EXIT_INTERRUPTED = 130


def main(
    argv: list[str] | None = None,
    *,
    client: httpx2.Client | None = None,
    console: Console | None = None,
    errors: Console | None = None,
) -> int:
    """Runs one command. Tests pass `client` (the real app in-process) and consoles that record what was printed."""
    parser = build_parser()
    arguments = parser.parse_args(argv)  # exits 2 with a usage message on a malformed command line
    output = Output(
        console=console or Console(),
        errors=errors or Console(stderr=True),
        as_json=arguments.json,
    )
    base_url = arguments.url or os.environ.get(URL_VARIABLE) or DEFAULT_URL
    token = arguments.token or os.environ.get(TOKEN_VARIABLE) or None
    try:
        if arguments.command in LOCAL_COMMANDS:
            return LOCAL_COMMANDS[arguments.command](arguments, output)
        if is_offline(arguments):
            return validate_files(arguments, output)
        if client is not None:
            return COMMANDS[arguments.command](Api(client, token), arguments, output)
        with httpx2.Client(base_url=base_url, timeout=arguments.timeout) as own_client:
            return COMMANDS[arguments.command](Api(own_client, token), arguments, output)
    except UsageError as error:
        parser.print_usage(sys.stderr)
        output.errors.print(f"civicflow: error: {escape(str(error))}", highlight=False)
        return EXIT_USAGE
    except ApiError as error:
        _print_api_error(output.errors, error)
        return EXIT_API_ERROR
    except CliError as error:
        output.errors.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False)
        return EXIT_API_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _print_api_error(errors: Console, error: ApiError) -> None:
    errors.print(f"[bold red]error {error.status} {escape(error.code)}:[/] {escape(error.message)}", highlight=False)
    for problem in error.details:
        errors.print(f"  {escape(problem.field)}: {escape(problem.problem)}", highlight=False)
