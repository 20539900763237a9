"""The token's subject over REST: it is the actor of the run and of every audit entry, whatever a header claims, and
it owns its idempotency keys, so another subject's key neither returns nor names their run."""

from __future__ import annotations

import uuid
from typing import Any

from civicflow.auth.principals import Role
from tests.support.credentials import Credentials
from tests.support.rest_api import RestApi

SPOOFED = {"X-Civicflow-Actor": "minister-of-finance"}


def caseworker(api: RestApi, credentials: Credentials, name: str) -> tuple[RestApi, str]:
    """The API as a caseworker of a name of this test's own."""
    subject = f"{name}-{uuid.uuid4().hex[:8]}"
    return api.with_token(credentials.issue(subject, Role.CASEWORKER)), subject


def assert_acted_by(subject: str, instance_id: str, reader: RestApi, auditor: RestApi) -> None:
    """The run, its trail and each entry as the log stores and hashes it all name `subject`."""
    assert reader.instance(instance_id)["actor"] == subject
    trail = reader.audit(instance_id)
    assert trail and {entry["actor"] for entry in trail} == {subject}
    for entry in trail:
        stored = auditor.get(f"/audit/entries/{entry['seq']}")
        assert stored.status_code == 200, stored.text
        assert (stored.json()["instance_id"], stored.json()["actor"]) == (instance_id, subject)


def execute(api: RestApi, citizen: str, *, key: str | None = None, mode: str = "sync") -> Any:
    headers = {**SPOOFED, **({"Idempotency-Key": key} if key else {})}
    body = {"template_id": "eligibility_check", "inputs": {"citizen_id": citizen, "scheme_name": "scheme_alpha"}}
    return api.post("/workflows/execute", json={**body, "mode": mode}, headers=headers)


def appeal(api: RestApi, original: str, income: int, *, key: str) -> Any:
    body = {"original_instance_id": original, "new_data": {"income": income}}
    return api.post("/workflows/appeal", json=body, headers={**SPOOFED, "Idempotency-Key": key})


def test_the_actor_of_a_run_and_of_each_of_its_entries_is_the_tokens_subject_whatever_the_header_says(
    api: RestApi, auditor_api: RestApi, credentials: Credentials
) -> None:
    alice, subject = caseworker(api, credentials, "alice")

    run = execute(alice, "CIT-0000501")

    assert run.status_code == 200, run.text
    assert_acted_by(subject, run.json()["instance_id"], alice, auditor_api)


def test_an_async_run_and_an_appeal_are_acted_by_the_tokens_subject_too(
    api: RestApi, auditor_api: RestApi, credentials: Credentials
) -> None:
    alice, alice_subject = caseworker(api, credentials, "alice")
    bob, bob_subject = caseworker(api, credentials, "bob")
    started = execute(alice, "CIT-0000502", mode="async")
    assert started.status_code == 202, started.text
    with alice.stream("GET", f"/workflows/{started.json()['instance_id']}/events") as events:
        assert events.status_code == 200
        events.read()

    # Bob appeals Alice's decision: the appeal is Bob's, the original stays Alice's.
    appealed = appeal(bob, started.json()["instance_id"], 1000, key=f"appeal-{uuid.uuid4()}")

    assert appealed.status_code == 200, appealed.text
    assert_acted_by(alice_subject, started.json()["instance_id"], alice, auditor_api)
    assert_acted_by(bob_subject, appealed.json()["new_instance_id"], bob, auditor_api)


def test_another_subjects_key_neither_returns_nor_names_the_first_run(api: RestApi, credentials: Credentials) -> None:
    alice, _ = caseworker(api, credentials, "alice")
    bob, bob_subject = caseworker(api, credentials, "bob")
    key = f"shared-{uuid.uuid4()}"
    alices = execute(alice, "CIT-0000503", key=key)
    assert alices.status_code == 200, alices.text
    alices_id = alices.json()["instance_id"]

    # Bob's first request with Alice's key asks for something else: not a conflict, a run of Bob's.
    other = execute(bob, "CIT-0000504", key=key)
    # The same request as Alice's, with the same key: still not Alice's run.
    same = execute(bob, "CIT-0000503", key=key)

    assert other.status_code == 200, other.text
    assert alices_id not in other.text
    assert bob.instance(other.json()["instance_id"])["actor"] == bob_subject
    assert api.error(same, 409)["code"] == "ALREADY_EXISTS"
    assert alices_id not in same.text and other.json()["instance_id"] in same.text
    assert execute(alice, "CIT-0000503", key=key).json()["instance_id"] == alices_id


def test_the_same_request_with_another_subjects_key_is_a_new_run_of_their_own(
    api: RestApi, credentials: Credentials
) -> None:
    alice, _ = caseworker(api, credentials, "alice")
    bob, bob_subject = caseworker(api, credentials, "bob")
    key = f"shared-{uuid.uuid4()}"
    alices = execute(alice, "CIT-0000505", key=key).json()["instance_id"]

    bobs = execute(bob, "CIT-0000505", key=key)
    again = execute(bob, "CIT-0000505", key=key)

    assert bobs.status_code == again.status_code == 200, bobs.text
    assert bobs.json()["instance_id"] != alices and alices not in bobs.text
    assert again.json()["instance_id"] == bobs.json()["instance_id"]
    assert bob.instance(bobs.json()["instance_id"])["actor"] == bob_subject


def test_another_subjects_appeal_key_neither_returns_nor_names_the_first_appeal(
    api: RestApi, credentials: Credentials
) -> None:
    alice, _ = caseworker(api, credentials, "alice")
    bob, bob_subject = caseworker(api, credentials, "bob")
    original = alice.check_eligibility("CIT-0000506", "scheme_alpha")["instance_id"]
    key = f"appeal-{uuid.uuid4()}"
    alices = appeal(alice, original, 1000, key=key)
    assert alices.status_code == 200, alices.text

    other = appeal(bob, original, 2000, key=key)
    same = appeal(bob, original, 1000, key=key)

    assert other.status_code == 200, other.text
    for answer in (other, same):
        assert alices.json()["appeal_id"] not in answer.text
        assert alices.json()["new_instance_id"] not in answer.text
    assert bob.instance(other.json()["new_instance_id"])["actor"] == bob_subject
    assert api.error(same, 409)["code"] == "ALREADY_EXISTS"
