"""`civicflow reviews`: a caseworker works the review queue from the command line, each step by the person who may
take it; a run waiting for a review is shown with its task and followed until it ends."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from civicflow.auth.principals import Role
from tests.support.cli_runs import Ran, RunCommand
from tests.support.eligibility_oracle import citizens_decided
from tests.support.rest_api import RestApi
from tests.support.review_runs import JUSTIFICATION

DESK, REVIEWER, STANDIN = "cw-cli-desk", "cw-cli-reviewer", "cw-cli-standin"


@pytest.fixture(scope="module")
def tokens(api: RestApi) -> dict[str, str]:
    issue = api.credentials.issue
    return {
        DESK: issue(DESK, Role.CASEWORKER),
        REVIEWER: issue(REVIEWER, Role.CASEWORKER),
        STANDIN: issue(STANDIN, Role.CASEWORKER),
        "admin": issue("admin-cli", Role.ADMIN),
    }


def apply(civicflow: RunCommand, token: str, citizen_id: str, *options: str) -> Ran:
    return civicflow(
        "run",
        "benefit_application",
        "--input",
        f"citizen_id={citizen_id}",
        "--input",
        "scheme_name=scheme_alpha",
        "--token",
        token,
        *options,
    )


def test_a_caseworker_works_a_waiting_application_from_the_queue_to_its_decision(
    civicflow: RunCommand, tokens: dict[str, str]
) -> None:
    (citizen_id,) = citizens_decided("NEEDS_REVIEW", "scheme_alpha", start=2000)
    submitted = apply(civicflow, tokens[DESK], citizen_id, "--sync", "--json")
    assert submitted.status == 0, submitted.err  # waiting is not a failure
    run = submitted.json()
    assert run["status"] == "waiting"
    task_id, instance_id = run["waiting_for"]["review_task_id"], run["instance_id"]

    shown = civicflow("show", instance_id)
    assert f"review task {task_id}" in shown.out and "waiting" in shown.out

    queue = civicflow("reviews", "list", "--status", "open", "--scheme", "scheme_alpha", "--limit", "1000")
    assert queue.status == 0, queue.err
    lines = queue.out.splitlines()
    row = next(index for index, line in enumerate(lines) if task_id in line)
    assert lines[row].split()[:3] == [task_id, "open", "no"]
    assert lines[row + 1].split()[:2] == [f"{citizen_id},", "scheme_alpha"]
    as_json = civicflow("reviews", "list", "--status", "open", "--limit", "1000", "--json").json()
    assert task_id in [item["review_task_id"] for item in as_json["items"]]

    one = civicflow("reviews", "show", task_id)
    assert one.status == 0, one.err
    for expected in (citizen_id, "NEEDS_REVIEW", DESK, "review_band"):
        assert expected in one.out

    refused = civicflow("reviews", "claim", task_id, "--token", tokens[DESK])
    assert refused.status == 1 and "error 403" in refused.err  # four eyes
    claimed = civicflow("reviews", "claim", task_id, "--token", tokens[REVIEWER], "--json")
    assert claimed.status == 0, claimed.err
    assert (claimed.json()["status"], claimed.json()["assignee"]) == ("claimed", REVIEWER)
    mine = civicflow("reviews", "list", "--mine", "--json", "--token", tokens[REVIEWER]).json()
    assert task_id in [item["review_task_id"] for item in mine["items"]]

    not_admin = civicflow("reviews", "reassign", task_id, "--to", STANDIN, "--token", tokens[REVIEWER])
    assert not_admin.status == 1 and "error 403" in not_admin.err
    handed = civicflow("reviews", "reassign", task_id, "--to", STANDIN, "--token", tokens["admin"])
    assert handed.status == 0, handed.err
    given_back = civicflow("reviews", "unclaim", task_id, "--token", tokens[STANDIN], "--json")
    assert given_back.status == 0, given_back.err
    assert given_back.json()["status"] == "open"
    assert civicflow("reviews", "claim", task_id, "--token", tokens[REVIEWER]).status == 0

    short = civicflow(
        "reviews", "decide", task_id, "--decision", "ELIGIBLE", "--justification", "fine", "--token", tokens[REVIEWER]
    )
    assert short.status == 1 and "error 422" in short.err and "justification" in short.err
    decided = civicflow(
        "reviews", "decide", task_id, "--decision", "NOT_ELIGIBLE", "--justification", JUSTIFICATION,
        "--token", tokens[REVIEWER],
    )  # fmt: skip
    assert decided.status == 0, decided.err
    assert "decided" in decided.out and "NOT_ELIGIBLE" in decided.out and JUSTIFICATION in decided.out
    again = civicflow(
        "reviews", "decide", task_id, "--decision", "ELIGIBLE", "--justification", JUSTIFICATION,
        "--token", tokens[REVIEWER],
    )  # fmt: skip
    assert again.status == 1 and "error 409" in again.err

    # The run resumes once the decision is recorded: watched, it is shown when it has ended.
    completed = civicflow("watch", instance_id)
    assert completed.status == 0, completed.err
    assert "completed" in completed.out and "waiting for" not in completed.out
    for expected in ("Decision: NOT_ELIGIBLE", "reviewed by", REVIEWER, JUSTIFICATION, "NEEDS_REVIEW"):
        assert expected in completed.out


def _open_task_of(api: RestApi, citizen_id: str) -> dict[str, Any]:
    """The open review task of `citizen_id`'s application, once its run has parked."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        page = api.get("/reviews", params={"status": "open", "scheme_name": "scheme_alpha", "limit": 1000}).json()
        for item in page["items"]:
            if item["citizen_id"] == citizen_id:
                return dict(item)
        time.sleep(0.1)
    raise AssertionError(f"no open review task for {citizen_id}")


def test_a_followed_run_is_followed_through_its_review_to_its_end(
    civicflow: RunCommand, api: RestApi, tokens: dict[str, str]
) -> None:
    (citizen_id,) = citizens_decided("NEEDS_REVIEW", "scheme_alpha", start=2100)
    reviewer = api.with_token(tokens[REVIEWER])

    with ThreadPoolExecutor(max_workers=1) as pool:
        following = pool.submit(apply, civicflow, tokens[DESK], citizen_id, "--json")
        task = _open_task_of(reviewer, citizen_id)
        time.sleep(0.5)
        assert not following.done(), "the command stopped following a waiting run"
        path = f"/reviews/{task['review_task_id']}"
        assert reviewer.post(f"{path}/claim").status_code == 200
        decided = reviewer.post(f"{path}/decide", json={"decision": "ELIGIBLE", "justification": JUSTIFICATION})
        assert decided.status_code == 200, decided.text
        followed = following.result(timeout=60)

    assert followed.status == 0, followed.err
    final = followed.json()
    assert final["status"] == "completed" and final["instance_id"] == task["instance_id"]
    assert final["outputs"]["decision"]["reviewed_by"] == REVIEWER


def test_an_eligible_application_completes_at_once_without_a_task(
    civicflow: RunCommand, tokens: dict[str, str]
) -> None:
    (citizen_id,) = citizens_decided("ELIGIBLE", "scheme_alpha", start=2000)
    done = apply(civicflow, tokens[DESK], citizen_id, "--sync")
    assert done.status == 0, done.err
    assert "completed" in done.out and "Decision: ELIGIBLE" in done.out and "waiting for" not in done.out


def test_an_unknown_task_is_an_api_error_and_a_bad_id_a_usage_error(civicflow: RunCommand) -> None:
    unknown = civicflow("reviews", "show", "00000000-0000-4000-8000-000000000000")
    assert unknown.status == 1 and "error 404" in unknown.err
    with pytest.raises(SystemExit) as exited:
        civicflow("reviews", "show", "task-1")
    assert exited.value.code == 2
