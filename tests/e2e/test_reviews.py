"""A person in the loop through REST, with real tokens: a benefit application the rules cannot decide waits for
a caseworker, who claims it and decides it with a justification; every refusal on the way."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from civicflow.auth.principals import Role
from tests.support.eligibility_oracle import citizens_decided
from tests.support.rest_api import RestApi
from tests.support.review_runs import JUSTIFICATION


def person(api: RestApi, subject: str, role: Role = Role.CASEWORKER) -> RestApi:
    return api.with_token(api.credentials.issue(subject, role))


def apply(caller: RestApi, citizen_id: str) -> dict[str, Any]:
    return caller.execute("benefit_application", {"citizen_id": citizen_id, "scheme_name": "scheme_alpha"})


@pytest.fixture(scope="module")
def desk(api: RestApi) -> RestApi:
    """The caseworker who submits the applications."""
    return person(api, "cw-rest-desk")


@pytest.fixture(scope="module")
def reviewer(api: RestApi) -> RestApi:
    return person(api, "cw-rest-reviewer")


def test_waiting_then_claimed_then_decided_then_completed_with_every_transition_audited(
    desk: RestApi, reviewer: RestApi
) -> None:
    (citizen_id,) = citizens_decided("NEEDS_REVIEW", "scheme_alpha", start=900)
    waiting = apply(desk, citizen_id)
    assert waiting["status"] == "waiting"
    task_id = waiting["waiting_for"]["review_task_id"]
    assert waiting["outputs"]["recommendation"]["decision"] == "NEEDS_REVIEW"
    instance = desk.instance(waiting["instance_id"])
    assert instance["status"] == "waiting" and instance["waiting_for"] == {"review_task_id": task_id}

    task = reviewer.get(f"/reviews/{task_id}").json()
    assert {key: task[key] for key in ("status", "assignee", "submitted_by", "citizen_id", "recommendation")} == {
        "status": "open",
        "assignee": None,
        "submitted_by": "cw-rest-desk",
        "citizen_id": citizen_id,
        "recommendation": "NEEDS_REVIEW",
    }
    assert task["reasons"] and task["decision"] is None and task["overdue"] is False

    claimed = reviewer.post(f"/reviews/{task_id}/claim")
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["assignee"] == "cw-rest-reviewer" and claimed.json()["claim_expires_at"]
    mine = reviewer.get("/reviews", params={"assignee": "me", "status": "claimed"}).json()
    assert task_id in [item["review_task_id"] for item in mine["items"]]

    decided = reviewer.post(f"/reviews/{task_id}/decide", json={"decision": "ELIGIBLE", "justification": JUSTIFICATION})
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "decided" and decided.json()["decision"] == "ELIGIBLE"

    events = []
    with desk.stream("GET", f"/workflows/{waiting['instance_id']}/events") as stream:
        events = [line for line in stream.iter_lines() if line.startswith("data:")]
    assert '"status":"completed"' in events[-1]
    done = desk.instance(waiting["instance_id"])
    assert "waiting_for" not in done
    decision = done["outputs"]["decision"]
    assert {key: decision[key] for key in ("decision", "reviewed_by", "justification", "review_task_id")} == {
        "decision": "ELIGIBLE",
        "reviewed_by": "cw-rest-reviewer",
        "justification": JUSTIFICATION,
        "review_task_id": task_id,
    }
    assert decision["recommended"]["decision"] == "NEEDS_REVIEW"
    transitions = [(entry["step_name"], entry["actor"]) for entry in desk.audit(done["instance_id"])]
    assert [transition for transition in transitions if ":" in transition[0]] == [
        ("caseworker_review:created", "cw-rest-desk"),
        ("caseworker_review:claimed", "cw-rest-reviewer"),
        ("caseworker_review:decided", "cw-rest-reviewer"),
    ]


def test_four_eyes_and_every_refusal(api: RestApi, desk: RestApi, reviewer: RestApi) -> None:
    (citizen_id,) = citizens_decided("NEEDS_REVIEW", "scheme_alpha", start=950)
    task_id = apply(desk, citizen_id)["waiting_for"]["review_task_id"]
    path = f"/reviews/{task_id}"
    good = {"decision": "NOT_ELIGIBLE", "justification": JUSTIFICATION}

    assert "submitted the application" in desk.error(desk.post(f"{path}/claim"), 403)["message"]
    assert desk.error(desk.post(f"{path}/decide", json=good), 403)
    assert api.as_role(Role.ANALYST).error(api.as_role(Role.ANALYST).post(f"{path}/claim"), 403)
    assert reviewer.error(reviewer.post(f"{path}/decide", json=good), 403)  # nobody holds it yet
    assert reviewer.error(reviewer.post(f"{path}/reassign", json={"assignee": "cw-x"}), 403)  # admin only
    admin = api.as_role(Role.ADMIN)
    assert admin.error(admin.post(f"{path}/reassign", json={"assignee": "cw-rest-desk"}), 403)  # the submitter

    assert reviewer.post(f"{path}/claim").status_code == 200
    other = person(api, "cw-rest-other")
    assert "claimed by 'cw-rest-reviewer'" in other.error(other.post(f"{path}/claim"), 409)["message"]
    assert other.error(other.post(f"{path}/unclaim"), 403)
    reassigned = admin.post(f"{path}/reassign", json={"assignee": "cw-rest-other"})
    assert reassigned.status_code == 200 and reassigned.json()["assignee"] == "cw-rest-other"
    for body in (
        {"decision": "NEEDS_REVIEW", "justification": JUSTIFICATION},
        {"decision": "ELIGIBLE", "justification": "too short"},
        {"decision": "ELIGIBLE"},
        {**good, "extra": 1},
    ):
        other.error(other.post(f"{path}/decide", json=body), 422)
    assert other.post(f"{path}/decide", json=good).status_code == 200
    assert other.error(other.post(f"{path}/decide", json=good), 409)
    assert other.error(other.post(f"{path}/unclaim"), 409)

    unknown = "/reviews/00000000-0000-4000-8000-000000000000"
    reviewer.error(reviewer.get(unknown), 404)
    reviewer.error(reviewer.post(f"{unknown}/claim"), 404)
    reviewer.error(reviewer.get("/reviews/not-a-uuid"), 422)
    reviewer.error(reviewer.get("/reviews", params={"status": "lost"}), 422)
    reviewer.error(reviewer.get("/reviews", params={"limit": 0}), 422)
    api.as_role(Role.ANALYST).error(api.as_role(Role.ANALYST).get("/reviews"), 403)
    assert api.as_role(Role.AUDITOR).get("/reviews").status_code == 200


def test_an_eligible_application_completes_without_a_task(desk: RestApi) -> None:
    (citizen_id,) = citizens_decided("ELIGIBLE", "scheme_alpha", start=900)
    done = apply(desk, citizen_id)
    assert done["status"] == "completed" and "waiting_for" not in done
    assert done["outputs"]["decision"]["decision"] == "ELIGIBLE" and "review" not in done["outputs"]


def test_the_queue_pages_in_due_order(desk: RestApi, reviewer: RestApi) -> None:
    for citizen_id in citizens_decided("NEEDS_REVIEW", "scheme_alpha", count=3, start=1000):
        apply(desk, citizen_id)
    first = reviewer.get("/reviews", params={"status": "open", "limit": 2}).json()
    assert len(first["items"]) == 2 and first["next_offset"] == 2
    rest = reviewer.get("/reviews", params={"status": "open", "limit": 1000, "offset": 2}).json()
    due = [item["due_at"] for item in first["items"] + rest["items"]]
    assert due == sorted(due) and rest["next_offset"] is None


def test_of_twenty_simultaneous_claims_by_twenty_people_exactly_one_wins(api: RestApi, desk: RestApi) -> None:
    (citizen_id,) = citizens_decided("NEEDS_REVIEW", "scheme_alpha", start=1100)
    task_id = apply(desk, citizen_id)["waiting_for"]["review_task_id"]
    claimants = [person(api, f"cw-rest-rush-{number:02d}") for number in range(20)]
    start = threading.Barrier(len(claimants))

    def claim(claimant: RestApi) -> tuple[int, str]:
        start.wait()
        response = claimant.post(f"/reviews/{task_id}/claim")
        return response.status_code, response.json()["assignee"] if response.status_code == 200 else ""

    with ThreadPoolExecutor(max_workers=len(claimants)) as pool:
        answers = list(pool.map(claim, claimants))

    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] + [409] * 19, answers
    (winner,) = [assignee for status, assignee in answers if status == 200]
    assert desk.get(f"/reviews/{task_id}").json()["assignee"] == winner


def test_an_event_stream_goes_on_through_waiting_and_ends_with_the_run(
    api: RestApi, desk: RestApi, reviewer: RestApi
) -> None:
    (citizen_id,) = citizens_decided("NEEDS_REVIEW", "scheme_alpha", start=1200)
    waiting = apply(desk, citizen_id)
    task_id = waiting["waiting_for"]["review_task_id"]
    statuses: list[str] = []
    seen_waiting = threading.Event()

    def follow() -> None:
        with desk.stream("GET", f"/workflows/{waiting['instance_id']}/events") as stream:
            for line in stream.iter_lines():
                if line.startswith("data:"):
                    snapshot = json.loads(line.removeprefix("data:"))
                    statuses.append(snapshot["status"])
                    if snapshot["status"] == "waiting":
                        assert snapshot["waiting_for"] == {"review_task_id": task_id}
                        seen_waiting.set()

    with ThreadPoolExecutor(max_workers=1) as pool:
        followed = pool.submit(follow)
        assert seen_waiting.wait(timeout=30), statuses
        assert not followed.done(), "the stream ended while the run was waiting"
        assert reviewer.post(f"/reviews/{task_id}/claim").status_code == 200
        decided = reviewer.post(
            f"/reviews/{task_id}/decide", json={"decision": "NOT_ELIGIBLE", "justification": JUSTIFICATION}
        )
        assert decided.status_code == 200, decided.text
        followed.result(timeout=30)

    assert statuses[0] == "waiting" and statuses[-1] == "completed", statuses


def test_the_assignee_gives_a_task_back_and_the_trail_says_so(api: RestApi, desk: RestApi, reviewer: RestApi) -> None:
    (citizen_id,) = citizens_decided("NEEDS_REVIEW", "scheme_alpha", start=1300)
    waiting = apply(desk, citizen_id)
    path = f"/reviews/{waiting['waiting_for']['review_task_id']}"
    assert reviewer.post(f"{path}/claim").status_code == 200

    given_back = reviewer.post(f"{path}/unclaim")

    assert given_back.status_code == 200, given_back.text
    task = given_back.json()
    assert (task["status"], task["assignee"], task["claim_expires_at"]) == ("open", None, None)
    transitions = [(entry["step_name"], entry["actor"]) for entry in desk.audit(waiting["instance_id"])]
    assert [transition for transition in transitions if ":" in transition[0]] == [
        ("caseworker_review:created", "cw-rest-desk"),
        ("caseworker_review:claimed", "cw-rest-reviewer"),
        ("caseworker_review:unclaimed", "cw-rest-reviewer"),
    ]
    assert desk.instance(waiting["instance_id"])["status"] == "waiting"


def test_an_async_application_found_waiting_by_its_repeated_request_names_its_task(desk: RestApi) -> None:
    (citizen_id,) = citizens_decided("NEEDS_REVIEW", "scheme_alpha", start=1400)
    body = {
        "template_id": "benefit_application",
        "inputs": {"citizen_id": citizen_id, "scheme_name": "scheme_alpha"},
        "mode": "async",
    }
    headers = {"Idempotency-Key": f"rest-review-{citizen_id}"}
    started = desk.post("/workflows/execute", json=body, headers=headers)
    assert started.status_code == 202, started.text
    instance_id = started.json()["instance_id"]
    deadline = time.monotonic() + 30
    while desk.instance(instance_id)["status"] != "waiting":
        assert time.monotonic() < deadline, "the application never started waiting"
        time.sleep(0.05)

    repeated = desk.post("/workflows/execute", json=body, headers=headers)

    assert repeated.status_code == 202, repeated.text
    waiting_for = desk.instance(instance_id)["waiting_for"]
    assert repeated.json() == {"instance_id": instance_id, "status": "waiting", "waiting_for": waiting_for}
