"""`civicflow reviews ...`: the queue of runs waiting for a person's decision; claim, unclaim, reassign, decide."""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Callable
from typing import Any

from civicflow_cli import review_render
from civicflow_cli.api import Api

EXIT_OK = 0
STATUSES = ("open", "claimed", "decided", "cancelled")
DECISIONS = ("ELIGIBLE", "NOT_ELIGIBLE")
MAX_PAGE_SIZE = 1000


def list_reviews(api: Api, arguments: argparse.Namespace, output: Any) -> int:
    filters = {
        "status": arguments.status,
        "assignee": "me" if arguments.mine else None,
        "scheme_name": arguments.scheme,
        "offset": arguments.offset,
        "limit": arguments.limit,
    }
    body = dict(api.get("/reviews", **{name: value for name, value in filters.items() if value is not None}))
    output.show(body, review_render.queue(body, next_command=_same_list(arguments)))
    return EXIT_OK


def _same_list(arguments: argparse.Namespace) -> str:
    """The command that lists the same queue, for the next page's hint."""
    parts = ["civicflow reviews list"]
    if arguments.status:
        parts.append(f"--status {arguments.status}")
    if arguments.mine:
        parts.append("--mine")
    if arguments.scheme:
        parts.append(f"--scheme {arguments.scheme}")
    if arguments.limit is not None:
        parts.append(f"--limit {arguments.limit}")
    return " ".join(parts)


def show_review(api: Api, arguments: argparse.Namespace, output: Any) -> int:
    body = dict(api.get(f"/reviews/{arguments.review_task_id}"))
    output.show(body, review_render.task(body))
    return EXIT_OK


def claim_review(api: Api, arguments: argparse.Namespace, output: Any) -> int:
    return _transition(api, arguments, output, "claim", {})


def unclaim_review(api: Api, arguments: argparse.Namespace, output: Any) -> int:
    return _transition(api, arguments, output, "unclaim", {})


def reassign_review(api: Api, arguments: argparse.Namespace, output: Any) -> int:
    return _transition(api, arguments, output, "reassign", {"assignee": arguments.to})


def decide_review(api: Api, arguments: argparse.Namespace, output: Any) -> int:
    body = {"decision": arguments.decision, "justification": arguments.justification}
    return _transition(api, arguments, output, "decide", body)


def _transition(api: Api, arguments: argparse.Namespace, output: Any, action: str, body: dict[str, Any]) -> int:
    task = dict(api.post(f"/reviews/{arguments.review_task_id}/{action}", body).json())
    output.show(task, review_render.task(task))
    return EXIT_OK


REVIEW_COMMANDS = {
    "list": list_reviews,
    "show": show_review,
    "claim": claim_review,
    "unclaim": unclaim_review,
    "reassign": reassign_review,
    "decide": decide_review,
}


def run_review_command(api: Api, arguments: argparse.Namespace, output: Any) -> int:
    return REVIEW_COMMANDS[arguments.review_command](api, arguments, output)


def review_task_id(text: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a review task id (a UUID)") from None


def add_review_commands(
    command: Callable[[str, str], argparse.ArgumentParser],
    *,
    count: Callable[[int], Callable[[str], int]],
    global_options: Callable[[argparse.ArgumentParser], None],
) -> None:
    """The `reviews` command and its own commands, on the CLI's parser (`command` makes a subcommand parser)."""
    reviews = command("reviews", "runs waiting for a person's decision: list, show, claim, unclaim, reassign, decide")
    review_commands = reviews.add_subparsers(dest="review_command", required=True, metavar="REVIEW_COMMAND")

    def subcommand(name: str, help_text: str) -> argparse.ArgumentParser:
        parser = review_commands.add_parser(name, help=help_text, description=help_text)
        global_options(parser)
        return parser

    def one_task(name: str, help_text: str) -> argparse.ArgumentParser:
        parser = subcommand(name, help_text)
        parser.add_argument("review_task_id", type=review_task_id, metavar="ID")
        return parser

    queue = subcommand("list", "one page of the review queue, oldest due first")
    queue.add_argument("--status", choices=STATUSES, help="only tasks in this status")
    queue.add_argument("--mine", action="store_true", help="only the tasks assigned to you")
    queue.add_argument("--scheme", metavar="NAME", help="only this scheme's tasks")
    queue.add_argument("--offset", type=count(0), help="tasks to skip (default: 0)")
    queue.add_argument("--limit", type=count(1), help=f"tasks on the page, at most {MAX_PAGE_SIZE} (default: 50)")
    one_task("show", "one review task: the run, the citizen, the engine's reasons, who holds it")
    one_task("claim", "take a task: it is yours until the claim lapses (not the run's submitter)")
    one_task("unclaim", "give a task you hold back to the queue")
    reassign = one_task("reassign", "hand a task to another person (admin)")
    reassign.add_argument("--to", required=True, metavar="SUBJECT", help="who takes the task over")
    decide = one_task("decide", "decide a task you hold: the run resumes and completes with your decision")
    decide.add_argument("--decision", required=True, choices=DECISIONS)
    decide.add_argument("--justification", required=True, metavar="TEXT", help="why, in at least 20 characters")
