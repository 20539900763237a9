"""The command line: global options (--url, --json, --timeout) accepted before or after the command."""

from __future__ import annotations

import argparse
import uuid
from pathlib import Path

from civicflow.auth.local_issuer import DEFAULT_TTL_SECONDS
from civicflow.auth.principals import Role
from civicflow_cli.review_commands import add_review_commands
from civicflow_cli.run_list_commands import add_run_commands
from civicflow_cli.scheme_commands import add_scheme_commands
from civicflow_cli.template_commands import add_template_commands

DEFAULT_URL = "http://127.0.0.1:8000"
URL_VARIABLE = "CIVICFLOW_URL"
TOKEN_VARIABLE = "CIVICFLOW_TOKEN"
ISSUER_KEY_VARIABLE = "CIVICFLOW_TOKEN_ISSUER_KEY"
# Where `make run` keeps the local issuer's key, from the project root.
DEFAULT_ISSUER_KEY = ".civicflow/token-issuer-key.pem"
# A million-citizen impact analysis run synchronously takes a while; the gateway's own deadline is 600 s.
DEFAULT_TIMEOUT_SECONDS = 660.0

EPILOG = f"""\
examples:
  export {TOKEN_VARIABLE}=$(civicflow token issue --subject alice --role caseworker)
  civicflow templates; civicflow templates show eligibility_check
  civicflow templates validate templates/*.json; civicflow templates reload
  civicflow run eligibility_check --input citizen_id=CIT-0000042 --input scheme_name=scheme_alpha
  civicflow run impact_analysis --input scheme_name=scheme_alpha --input population_size=1000000 \\
      --input proposed_rules.max_income=200000
  civicflow show ID; civicflow audit ID; civicflow report ID; civicflow results ID --offset 100 --limit 50
  civicflow appeal ID --new-data income=240000
  civicflow runs list --status failed --template eligibility_check; civicflow runs list --citizen CIT-0000042
  civicflow schemes list; civicflow schemes show scheme_delta 1
  civicflow schemes draft scheme_delta delta-v2.json
  civicflow schemes publish scheme_delta 2 --effective-from 2027-01-01
  civicflow reviews list --status open; civicflow reviews claim ID
  civicflow reviews decide ID --decision ELIGIBLE --justification "Income verified with the employer."

The gateway is at --url, else ${URL_VARIABLE}, else {DEFAULT_URL}. Requests carry the bearer token
--token, else ${TOKEN_VARIABLE}.
Exit status: 0 done (a --sync run left waiting for a review too); 1 the API refused or failed the
request, or the run failed; 2 a usage error.
"""


def _instance_id(text: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an instance id (a UUID)") from None


def _count(minimum: int) -> type[int]:
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}")
        return value

    return parse  # type: ignore[return-value]


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    # On the subcommands the defaults are suppressed, so that an option given before the
    # command is not overwritten by the subcommand's default.
    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument(
        "--url", default=default(None), help=f"gateway base URL (default: ${URL_VARIABLE} or {DEFAULT_URL})"
    )
    parser.add_argument(
        "--token", default=default(None), help=f"bearer token sent with every request (default: ${TOKEN_VARIABLE})"
    )
    parser.add_argument("--json", action="store_true", default=default(False), help="print the API's raw JSON answer")
    parser.add_argument(
        "--timeout", type=float, default=default(DEFAULT_TIMEOUT_SECONDS), help="seconds to wait for each answer"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="civicflow",
        description="Runs Civicflow workflows and reads their results through the REST API.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _global_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        _global_options(sub, suppress=True)
        return sub

    add_template_commands(command, global_options=lambda sub: _global_options(sub, suppress=True))

    run = command("run", "run a workflow; follows its progress until it ends, then shows it")
    run.add_argument("template_id", metavar="TEMPLATE", help="template id, e.g. eligibility_check")
    run.add_argument(
        "--input", "-i", action="append", default=[], metavar="KEY=VALUE", help="an input (repeatable); see below"
    )
    run.add_argument("--inputs-file", metavar="FILE", help="a JSON object of inputs ('-' reads standard input)")
    run.add_argument("--idempotency-key", metavar="KEY", help="a repeated request with this key starts nothing new")
    how = run.add_mutually_exclusive_group()
    how.add_argument("--sync", action="store_true", help="one request that answers when the run has ended")
    how.add_argument("--detach", action="store_true", help="start the run, print its id alone and return at once")
    run.epilog = (
        "KEY=VALUE: text where the template's input is a string, JSON otherwise "
        "(population_size=1000, proposed_rules='{\"max_income\": 200000}'); "
        "a dotted KEY sets a nested field (proposed_rules.max_income=200000). --input overrides --inputs-file."
    )

    show = command("show", "show a workflow instance: status, progress, inputs, outputs")
    show.add_argument("instance_id", type=_instance_id, metavar="ID")

    watch = command("watch", "follow a running workflow's progress until it ends, then show it")
    watch.add_argument("instance_id", type=_instance_id, metavar="ID")

    audit = command("audit", "show an instance's audit trail, one entry per step attempt")
    audit.add_argument("instance_id", type=_instance_id, metavar="ID")

    report = command("report", "show the report of a completed impact analysis")
    report.add_argument("instance_id", type=_instance_id, metavar="ID")

    results = command("results", "show one page of an impact analysis's per-citizen results")
    results.add_argument("instance_id", type=_instance_id, metavar="ID")
    results.add_argument("--offset", type=_count(0), default=0, help="citizens to skip (default: 0)")
    results.add_argument("--limit", type=_count(1), default=20, help="citizens on the page, at most 1000 (default: 20)")

    appeal = command("appeal", "appeal a decision with new data correcting the registry's (age, income, category)")
    appeal.add_argument("instance_id", type=_instance_id, metavar="ID", help="the eligibility check or appeal")
    appeal.add_argument(
        "--new-data", action="append", default=[], metavar="KEY=VALUE", help="e.g. income=240000 (repeatable)"
    )
    appeal.add_argument("--new-data-file", metavar="FILE", help="a JSON object of new data ('-' reads standard input)")
    appeal.add_argument("--idempotency-key", metavar="KEY", help="a repeated request with this key creates nothing new")

    add_scheme_commands(
        command,
        version_number=_count(1),
        global_options=lambda sub: _global_options(sub, suppress=True),
    )

    add_review_commands(command, count=_count, global_options=lambda sub: _global_options(sub, suppress=True))
    add_run_commands(command, count=_count, global_options=lambda sub: _global_options(sub, suppress=True))

    token = command("token", "tokens of the local issuer, for development (make run)")
    token_commands = token.add_subparsers(dest="token_command", required=True, metavar="TOKEN_COMMAND")
    issue = token_commands.add_parser(
        "issue",
        help="print a token signed by the local issuer's key, and nothing else",
        description="Prints a bearer token signed by the local issuer's key (created on first use), and nothing else.",
    )
    issue.add_argument("--subject", required=True, help="who the token is for; recorded as the actor of their runs")
    issue.add_argument(
        "--role", action="append", required=True, choices=[role.value for role in Role], help="a role (repeatable)"
    )
    issue.add_argument("--ttl", type=_count(1), default=DEFAULT_TTL_SECONDS, help="seconds it is valid (default: 8 h)")
    issue.add_argument(
        "--key",
        type=Path,
        default=None,
        help=f"the issuer's private key (default: ${ISSUER_KEY_VARIABLE}, else {DEFAULT_ISSUER_KEY})",
    )
    return parser
