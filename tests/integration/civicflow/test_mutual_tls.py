"""Mutual TLS between the services: who gets through the handshake, and which identity may call what.

The evaluator and the audit service admit only clients with a certificate of Civicflow's authority;
among those, access.SERVICE_RULES decides per RPC. The orchestrator's public port admits any TLS
client and wants a bearer token instead. Clients check that the server is the identity they meant.
The audit service here has a log of its own, so that its size says exactly what was appended.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import grpc
import pytest
import sqlalchemy as sa

from audit_service.config import AuditSettings
from audit_service.server import start as start_audit_service
from civicflow.auth.access import ServiceIdentity
from civicflow.auth.principals import Role
from civicflow.tls import Identity
from civicflow.v1 import (
    audit_pb2,
    audit_pb2_grpc,
    evaluator_pb2,
    evaluator_pb2_grpc,
    orchestrator_pb2,
    orchestrator_pb2_grpc,
)
from tests.support.audit_records import new_instance, record
from tests.support.background_loop import BackgroundLoop, serve_on_loopback
from tests.support.credentials import Credentials, bearer
from tests.support.databases import set_up_database
from tests.support.scheme_documents import seed_rule_document

# Clients the evaluator and the audit service must refuse in the handshake, whatever they call.
UNCERTIFIED_CLIENTS = ("plaintext", "TLS without a client certificate", "a certificate of another authority")
# The services other than the orchestrator, each with a certificate of the authority.
OTHER_SERVICES = (ServiceIdentity.GATEWAY, ServiceIdentity.EVALUATOR, ServiceIdentity.AUDIT_SERVICE)


@dataclass(frozen=True)
class AuditLog:
    """An audit service serving a log of its own, and a superuser's view of that log's head."""

    target: str
    admin_url: str

    def size(self) -> int:
        engine = sa.create_engine(self.admin_url)
        try:
            with engine.connect() as connection:
                return int(connection.execute(sa.text("SELECT tree_size FROM audit.log_head")).scalar_one())
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def audit_log(
    postgres_server_url: str, background_loop: BackgroundLoop, audit_settings: AuditSettings
) -> Iterator[AuditLog]:
    with set_up_database(postgres_server_url, name_prefix="civicflow_mtls") as database:
        settings = audit_settings.model_copy(update={"database_url": database.accounts.audit})
        with serve_on_loopback(background_loop, start_audit_service(settings)) as target:
            yield AuditLog(target=target, admin_url=database.admin_url)


@pytest.fixture(scope="module")
def foreign(tmp_path_factory: pytest.TempPathFactory) -> Credentials:
    """What an outsider can make for themselves: an authority of the same name, certificates of the same names."""
    return Credentials.create(tmp_path_factory.mktemp("foreign-credentials"))


def uncertified_channel(
    kind: str, target: str, *, server: ServiceIdentity, credentials: Credentials, foreign: Credentials
) -> grpc.Channel:
    """A client that trusts the real authority (so only its own side of the handshake can fail)."""
    if kind == "plaintext":
        return grpc.insecure_channel(target)
    if kind == "TLS without a client certificate":
        return credentials.channel(target, server=server)
    # The orchestrator's name, signed by the other authority.
    files = foreign.pki.files(ServiceIdentity.ORCHESTRATOR)
    tls = grpc.ssl_channel_credentials(
        root_certificates=credentials.pki.ca.read_bytes(),
        private_key=files.key.read_bytes(),
        certificate_chain=files.certificate.read_bytes(),
    )
    return grpc.secure_channel(target, tls, options=[("grpc.ssl_target_name_override", str(server))])


def append_request() -> audit_pb2.AppendEntriesRequest:
    instance = new_instance()
    forged = record(instance, 3, step_name="make_decision", output_json='{"decision": "NOT_ELIGIBLE"}')
    forged.idempotency_key = f"{instance}/3/2"
    return audit_pb2.AppendEntriesRequest(records=[forged])


def assert_refused_in_the_handshake(error: grpc.RpcError) -> None:
    # The server closes the connection before any RPC is read: the client sees no status of the server's.
    assert error.code() == grpc.StatusCode.UNAVAILABLE, error.details()
    assert "Socket closed" in (error.details() or "")


@pytest.mark.parametrize("kind", UNCERTIFIED_CLIENTS)
def test_a_client_without_a_certificate_of_the_authority_cannot_append_or_read_the_audit_log(
    kind: str, audit_log: AuditLog, credentials: Credentials, foreign: Credentials
) -> None:
    before = audit_log.size()
    request = append_request()
    server = ServiceIdentity.AUDIT_SERVICE

    with uncertified_channel(
        kind, audit_log.target, server=server, credentials=credentials, foreign=foreign
    ) as channel:
        stub = audit_pb2_grpc.AuditServiceStub(channel)
        with pytest.raises(grpc.RpcError) as append:
            stub.AppendEntries(request, timeout=10)
        with pytest.raises(grpc.RpcError) as read:
            stub.GetCheckpoint(audit_pb2.GetCheckpointRequest(), timeout=10)

    assert_refused_in_the_handshake(append.value)
    assert_refused_in_the_handshake(read.value)
    assert audit_log.size() == before
    assert _entries(credentials, audit_log, request.records[0].instance_id) == []


@pytest.mark.parametrize("identity", OTHER_SERVICES)
def test_another_services_certificate_may_not_append_even_with_an_admins_token(
    identity: ServiceIdentity, audit_log: AuditLog, credentials: Credentials
) -> None:
    before = audit_log.size()
    request = append_request()

    with credentials.channel(
        audit_log.target, server=ServiceIdentity.AUDIT_SERVICE, as_=identity, token=credentials.token(Role.ADMIN)
    ) as channel:
        with pytest.raises(grpc.RpcError) as refused:
            audit_pb2_grpc.AuditServiceStub(channel).AppendEntries(request, timeout=10)

    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert refused.value.details() == f"service '{identity}' may not call AppendEntries"
    assert audit_log.size() == before
    assert _entries(credentials, audit_log, request.records[0].instance_id) == []


def test_the_orchestrators_certificate_appends_and_the_log_grows_by_its_records_alone(
    audit_log: AuditLog, credentials: Credentials
) -> None:
    before = audit_log.size()
    request = append_request()

    with _as_orchestrator(credentials, audit_log) as stub:
        appended = stub.AppendEntries(request, timeout=10).entries

    assert [(entry.seq, entry.writer) for entry in appended] == [(before, "orchestrator")]
    assert audit_log.size() == before + 1


@pytest.mark.parametrize("kind", UNCERTIFIED_CLIENTS)
def test_a_client_without_a_certificate_of_the_authority_cannot_call_the_evaluator(
    kind: str, evaluator_target: str, credentials: Credentials, foreign: Credentials
) -> None:
    server = ServiceIdentity.EVALUATOR
    with uncertified_channel(
        kind, evaluator_target, server=server, credentials=credentials, foreign=foreign
    ) as channel:
        with pytest.raises(grpc.RpcError) as refused:
            evaluator_pb2_grpc.EvaluatorServiceStub(channel).Evaluate(_evaluate_request(), timeout=10)

    assert_refused_in_the_handshake(refused.value)


@pytest.mark.parametrize("identity", [ServiceIdentity.GATEWAY, ServiceIdentity.AUDIT_SERVICE])
def test_only_the_orchestrators_certificate_may_call_the_evaluator(
    identity: ServiceIdentity, evaluator_target: str, credentials: Credentials
) -> None:
    server = ServiceIdentity.EVALUATOR
    with (
        credentials.channel(evaluator_target, server=server, as_=identity) as other,
        credentials.channel(evaluator_target, server=server, as_=ServiceIdentity.ORCHESTRATOR) as orchestrator,
    ):
        with pytest.raises(grpc.RpcError) as refused:
            evaluator_pb2_grpc.EvaluatorServiceStub(other).Evaluate(_evaluate_request(), timeout=10)
        answer = evaluator_pb2_grpc.EvaluatorServiceStub(orchestrator).Evaluate(_evaluate_request(), timeout=10)

    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert refused.value.details() == f"service '{identity}' may not call Evaluate"
    assert answer.decision == evaluator_pb2.DECISION_ELIGIBLE


def test_the_orchestrators_port_takes_tls_with_a_bearer_token_and_no_client_certificate(
    orchestrator_target: str, credentials: Credentials
) -> None:
    request = orchestrator_pb2.ListTemplatesRequest()
    token = bearer(credentials.token(Role.CASEWORKER))
    with credentials.channel(orchestrator_target, server=ServiceIdentity.ORCHESTRATOR) as channel:
        stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
        templates = stub.ListTemplates(request, metadata=token, timeout=10).templates
        with pytest.raises(grpc.RpcError) as anonymous:
            stub.ListTemplates(request, timeout=10)

    assert "eligibility_check" in {template.template_id for template in templates}
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_the_orchestrators_port_refuses_plaintext_even_with_a_token(
    orchestrator_target: str, credentials: Credentials
) -> None:
    token = bearer(credentials.token(Role.CASEWORKER))
    with grpc.insecure_channel(orchestrator_target) as channel:
        with pytest.raises(grpc.RpcError) as refused:
            orchestrator_pb2_grpc.OrchestratorServiceStub(channel).ListTemplates(
                orchestrator_pb2.ListTemplatesRequest(), metadata=token, timeout=10
            )

    assert_refused_in_the_handshake(refused.value)


def test_a_service_refuses_a_server_whose_certificate_names_another_identity(
    background_loop: BackgroundLoop, evaluator_target: str, audit_log: AuditLog, credentials: Credentials
) -> None:
    """The orchestrator's own client, sent to the evaluator as if it were the audit service: a certificate of
    the authority, but not the audit service's, so nothing is sent to it."""
    orchestrator = credentials.identity(ServiceIdentity.ORCHESTRATOR)
    request = append_request()

    with pytest.raises(grpc.RpcError) as refused:
        background_loop.run(_append_over(orchestrator, evaluator_target, request))
    appended = background_loop.run(_append_over(orchestrator, audit_log.target, request))

    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "Hostname Verification Check failed" in (refused.value.details() or "")
    assert [entry.writer for entry in appended.entries] == ["orchestrator"]


async def _append_over(
    identity: Identity, target: str, request: audit_pb2.AppendEntriesRequest
) -> audit_pb2.AppendEntriesResponse:
    async with identity.channel(target, server=ServiceIdentity.AUDIT_SERVICE) as channel:
        return await audit_pb2_grpc.AuditServiceStub(channel).AppendEntries(request, timeout=10)


@contextmanager
def _as_orchestrator(credentials: Credentials, audit_log: AuditLog) -> Iterator[audit_pb2_grpc.AuditServiceStub]:
    server, orchestrator = ServiceIdentity.AUDIT_SERVICE, ServiceIdentity.ORCHESTRATOR
    with credentials.channel(audit_log.target, server=server, as_=orchestrator) as channel:
        yield audit_pb2_grpc.AuditServiceStub(channel)


def _entries(credentials: Credentials, audit_log: AuditLog, instance_id: str) -> list[audit_pb2.AuditEntry]:
    with _as_orchestrator(credentials, audit_log) as stub:
        return list(stub.ListEntries(audit_pb2.ListEntriesRequest(instance_id=instance_id), timeout=10).entries)


def _evaluate_request() -> evaluator_pb2.EvaluateRequest:
    return evaluator_pb2.EvaluateRequest(
        citizen=evaluator_pb2.CitizenProfile(citizen_id="CIT-0000042", age=30, income=1000.0),
        document=seed_rule_document("scheme_alpha"),
    )
