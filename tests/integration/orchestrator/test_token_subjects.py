"""The token's subject over gRPC: it is the actor of the run and of every audit entry, whatever the metadata claims,
and it owns its idempotency keys, so another subject's key neither returns nor names their run."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import grpc
import pytest

from civicflow.auth.access import ServiceIdentity
from civicflow.auth.principals import Role
from civicflow.v1 import audit_pb2, audit_pb2_grpc, orchestrator_pb2, orchestrator_pb2_grpc
from tests.support.credentials import Credentials, bearer

SPOOFED = (("x-civicflow-actor", "minister-of-finance"), ("actor", "minister-of-finance"))


class Caller:
    """A caseworker of a name of the test's own, calling the orchestrator directly."""

    def __init__(self, stub: orchestrator_pb2_grpc.OrchestratorServiceStub, credentials: Credentials, name: str):
        self.subject = f"{name}-{uuid.uuid4().hex[:8]}"
        self._stub = stub
        self._metadata = (*bearer(credentials.issue(self.subject, Role.CASEWORKER)), *SPOOFED)

    def execute(self, citizen: str, *, key: str = "") -> orchestrator_pb2.WorkflowInstance:
        inputs = {"citizen_id": citizen, "scheme_name": "scheme_alpha"}
        request = orchestrator_pb2.ExecuteWorkflowRequest(
            template_id="eligibility_check", inputs_json=json.dumps(inputs), idempotency_key=key
        )
        return self._stub.ExecuteWorkflow(request, metadata=self._metadata, timeout=30).instance

    def appeal(self, original: str, income: int, *, key: str) -> orchestrator_pb2.SubmitAppealResponse:
        request = orchestrator_pb2.SubmitAppealRequest(
            original_instance_id=original, new_data_json=json.dumps({"income": income}), idempotency_key=key
        )
        return self._stub.SubmitAppeal(request, metadata=self._metadata, timeout=30)

    def instance(self, instance_id: str) -> orchestrator_pb2.WorkflowInstance:
        request = orchestrator_pb2.GetWorkflowRequest(instance_id=instance_id)
        return self._stub.GetWorkflow(request, metadata=self._metadata, timeout=10).instance

    def trail(self, instance_id: str) -> list[audit_pb2.AuditEntry]:
        request = orchestrator_pb2.GetAuditTrailRequest(instance_id=instance_id)
        return list(self._stub.GetAuditTrail(request, metadata=self._metadata, timeout=10).entries)


@pytest.fixture(scope="module")
def orchestrator(
    credentials: Credentials, orchestrator_target: str
) -> Iterator[orchestrator_pb2_grpc.OrchestratorServiceStub]:
    with credentials.channel(orchestrator_target, server=ServiceIdentity.ORCHESTRATOR) as channel:
        yield orchestrator_pb2_grpc.OrchestratorServiceStub(channel)


@pytest.fixture(scope="module")
def audit_log(credentials: Credentials, audit_target: str) -> Iterator[audit_pb2_grpc.AuditServiceStub]:
    """The audit log as the gateway reads it for an auditor."""
    with credentials.channel(
        audit_target,
        server=ServiceIdentity.AUDIT_SERVICE,
        as_=ServiceIdentity.GATEWAY,
        token=credentials.token(Role.AUDITOR),
    ) as channel:
        yield audit_pb2_grpc.AuditServiceStub(channel)


def assert_acted_by(caller: Caller, instance_id: str, audit_log: audit_pb2_grpc.AuditServiceStub) -> None:
    """The run, its trail and each entry as the log stores and hashes it all name the caller's subject."""
    assert caller.instance(instance_id).actor == caller.subject
    trail = caller.trail(instance_id)
    assert trail and {entry.record.actor for entry in trail} == {caller.subject}
    for entry in trail:
        stored = json.loads(audit_log.GetEntry(audit_pb2.GetEntryRequest(seq=entry.seq), timeout=10).canonical_json)
        assert (stored["instance_id"], stored["actor"]) == (instance_id, caller.subject)


def test_the_actor_of_a_run_an_appeal_and_their_entries_is_the_tokens_subject_whatever_the_metadata_says(
    orchestrator: orchestrator_pb2_grpc.OrchestratorServiceStub,
    credentials: Credentials,
    audit_log: audit_pb2_grpc.AuditServiceStub,
) -> None:
    alice, bob = Caller(orchestrator, credentials, "alice"), Caller(orchestrator, credentials, "bob")

    run = alice.execute("CIT-0000601")
    appealed = bob.appeal(run.instance_id, 1000, key=f"appeal-{uuid.uuid4()}")

    assert run.actor == alice.subject
    assert_acted_by(alice, run.instance_id, audit_log)
    assert appealed.new_instance.actor == bob.subject
    assert_acted_by(bob, appealed.new_instance.instance_id, audit_log)


def test_another_subjects_key_neither_returns_nor_names_the_first_run(
    orchestrator: orchestrator_pb2_grpc.OrchestratorServiceStub, credentials: Credentials
) -> None:
    alice, bob = Caller(orchestrator, credentials, "alice"), Caller(orchestrator, credentials, "bob")
    key = f"shared-{uuid.uuid4()}"
    alices = alice.execute("CIT-0000602", key=key)

    # Bob's first request with Alice's key asks for something else: not a conflict, a run of Bob's.
    other = bob.execute("CIT-0000603", key=key)
    with pytest.raises(grpc.RpcError) as conflict:
        bob.execute("CIT-0000602", key=key)

    assert other.instance_id != alices.instance_id and other.actor == bob.subject
    assert conflict.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert alices.instance_id not in conflict.value.details() and other.instance_id in conflict.value.details()
    assert alice.execute("CIT-0000602", key=key).instance_id == alices.instance_id


def test_the_same_request_with_another_subjects_key_is_a_new_run_of_their_own(
    orchestrator: orchestrator_pb2_grpc.OrchestratorServiceStub, credentials: Credentials
) -> None:
    alice, bob = Caller(orchestrator, credentials, "alice"), Caller(orchestrator, credentials, "bob")
    key = f"shared-{uuid.uuid4()}"
    alices = alice.execute("CIT-0000604", key=key)

    bobs = bob.execute("CIT-0000604", key=key)

    assert bobs.instance_id != alices.instance_id and bobs.actor == bob.subject
    assert bob.execute("CIT-0000604", key=key).instance_id == bobs.instance_id


def test_another_subjects_appeal_key_neither_returns_nor_names_the_first_appeal(
    orchestrator: orchestrator_pb2_grpc.OrchestratorServiceStub, credentials: Credentials
) -> None:
    alice, bob = Caller(orchestrator, credentials, "alice"), Caller(orchestrator, credentials, "bob")
    original = alice.execute("CIT-0000605").instance_id
    key = f"appeal-{uuid.uuid4()}"
    alices = alice.appeal(original, 1000, key=key)

    other = bob.appeal(original, 2000, key=key)
    with pytest.raises(grpc.RpcError) as conflict:
        bob.appeal(original, 1000, key=key)

    assert (other.appeal_id, other.new_instance.instance_id) != (alices.appeal_id, alices.new_instance.instance_id)
    assert other.new_instance.actor == bob.subject
    assert conflict.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert alices.new_instance.instance_id not in conflict.value.details()
