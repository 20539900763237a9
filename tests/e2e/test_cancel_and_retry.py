"""Cancelling and retrying runs through the REST API and `civicflow runs`: a waiting application cancelled with its
review task, its event stream ending on `cancelled`; a finished run refused; a failed run retried, its reused steps
audited naming the run they came from, and the two runs naming each other."""

from __future__ import annotations

import json

from civicflow.auth.principals import Role
from tests.support.cli_runs import RunCommand
from tests.support.eligibility_oracle import citizens_decided
from tests.support.orchestrators import wait_until
from tests.support.rest_api import RestApi
from tests.support.review_runs import JUSTIFICATION

UNKNOWN_SCHEME = {"citizen_id": "CIT-0000042", "scheme_name": "scheme_zeta"}


def test_a_waiting_application_cancelled_by_its_submitter_ends_its_events_and_its_review(
    api: RestApi, admin_api: RestApi
) -> None:
    (citizen_id,) = citizens_decided("NEEDS_REVIEW", "scheme_alpha", start=2600)
    waiting = api.execute("benefit_application", {"citizen_id": citizen_id, "scheme_name": "scheme_alpha"})
    assert waiting["status"] == "waiting", waiting
    task_id, instance_id = waiting["waiting_for"]["review_task_id"], waiting["instance_id"]
    other = api.with_token(api.credentials.issue("cw-not-the-submitter", Role.CASEWORKER))
    assert api.error(other.post(f"/workflows/{instance_id}/cancel"), 403)["code"] == "PERMISSION_DENIED"

    with api.stream("GET", f"/workflows/{instance_id}/events") as events:
        cancelled = api.post(f"/workflows/{instance_id}/cancel")
        statuses = [json.loads(line[6:])["status"] for line in events.iter_lines() if line.startswith("data: ")]

    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert (body["status"], body["error"], body["instance_id"]) == (
        "cancelled",
        "cancelled by caseworker-1",
        instance_id,
    )
    assert "waiting_for" not in body and body["completed_at"] is not None
    assert statuses[-1] == "cancelled"
    assert api.get(f"/reviews/{task_id}").json()["status"] == "cancelled"
    decide = admin_api.post(f"/reviews/{task_id}/decide", json={"decision": "ELIGIBLE", "justification": JUSTIFICATION})
    assert admin_api.error(decide, 409)["code"] == "FAILED_PRECONDITION"
    again = api.error(api.post(f"/workflows/{instance_id}/cancel"), 409)
    assert "is cancelled; only a queued, running or waiting run can be cancelled" in again["message"]
    cancellation = [entry for entry in api.audit(instance_id) if entry["step_name"] == "run:cancelled"]
    assert [(entry["actor"], entry["input"]["status"]) for entry in cancellation] == [("caseworker-1", "waiting")]


def test_a_finished_run_is_not_cancelled_and_an_unknown_one_is_not_found(api: RestApi) -> None:
    completed = api.check_eligibility("CIT-0000043", "scheme_alpha")
    assert api.error(api.post(f"/workflows/{completed['instance_id']}/cancel"), 409)["code"] == "FAILED_PRECONDITION"
    assert api.instance(completed["instance_id"])["status"] == "completed"
    assert api.post("/workflows/5b0ed0c5-3c38-4f0a-9d27-4dd7a4e8e1a6/cancel").status_code == 404


def test_a_failed_run_retried_reuses_its_completed_steps_and_the_runs_name_each_other(api: RestApi) -> None:
    failed = api.execute("eligibility_check", UNKNOWN_SCHEME)
    assert failed["status"] == "failed", failed

    retried = api.post(f"/workflows/{failed['instance_id']}/retry")

    assert retried.status_code == 201, retried.text
    started = retried.json()
    assert started["retry_of"] == failed["instance_id"]
    old, new = api.instance(failed["instance_id"]), api.instance(started["instance_id"])
    assert old["retried_by"] == started["instance_id"] and new["retry_of"] == failed["instance_id"]
    assert (new["template_version"], new["inputs"]) == (old["template_version"], old["inputs"])
    # The scheme is still unknown: the retry fails at the same step, after reusing the one before it.
    with api.stream("GET", f"/workflows/{started['instance_id']}/events") as events:
        last = [json.loads(line[6:]) for line in events.iter_lines() if line.startswith("data: ")][-1]
    assert last["status"] == "failed"
    trail = api.audit(started["instance_id"])
    assert [(entry["step_name"], entry["status"]) for entry in trail] == [
        ("fetch_citizen", "success"),
        ("fetch_scheme_rules", "failed"),
    ]
    assert trail[0]["output"]["reused_from"] == failed["instance_id"]
    assert trail[0]["input"] == api.audit(failed["instance_id"])[0]["input"]
    assert api.error(api.post(f"/workflows/{failed['instance_id']}/retry"), 409)["code"] == "FAILED_PRECONDITION"
    completed = api.check_eligibility("CIT-0000044", "scheme_alpha")
    refused = api.error(api.post(f"/workflows/{completed['instance_id']}/retry"), 409)
    assert "only a failed or cancelled run can be retried" in refused["message"]


def test_civicflow_runs_cancel_and_retry(civicflow: RunCommand, api: RestApi) -> None:
    (citizen_id,) = citizens_decided("NEEDS_REVIEW", "scheme_alpha", start=2700)
    waiting = api.execute("benefit_application", {"citizen_id": citizen_id, "scheme_name": "scheme_alpha"})
    instance_id = waiting["instance_id"]

    cancelled = civicflow("runs", "cancel", instance_id)
    assert cancelled.status == 0, cancelled.err
    assert "cancelled" in cancelled.out and "cancelled by caseworker-1" in cancelled.out
    watched = civicflow("watch", instance_id, "--json")
    assert (watched.status, watched.json()["status"]) == (1, "cancelled")  # ended, and not completed
    again = civicflow("runs", "cancel", instance_id)
    assert again.status == 1 and "error 409" in again.err

    detached = civicflow("runs", "retry", instance_id, "--detach")
    assert detached.status == 0, detached.err
    retry_id = detached.out.strip()
    shown = civicflow("show", instance_id)
    assert "retried by" in shown.out and retry_id in shown.out
    wait_until(lambda: api.instance(retry_id)["status"] == "waiting", timeout=30, what="the retry to wait")
    retry = api.instance(retry_id)
    assert retry["retry_of"] == instance_id  # at its review step again, with a new task to decide
    assert retry["waiting_for"]["review_task_id"] != waiting["waiting_for"]["review_task_id"]
    assert civicflow("runs", "cancel", retry_id).status == 0
