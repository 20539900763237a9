"""Who may call which OrchestratorService RPC, as one table over every RPC of the service: the orchestrator itself
judges the bearer token (the gateway is not trusted to have), with the same rules as REST.

Direct clients connect with server TLS only: they trust the authority and show no certificate. Reading a
run is judged by its template's roles: the table reads runs of each template, made once for the module.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import grpc
import pytest
import sqlalchemy as sa
from google.protobuf.message import Message

from civicflow.auth.access import ServiceIdentity
from civicflow.auth.principals import Role
from civicflow.settings import REPO_ROOT
from civicflow.v1 import orchestrator_pb2, orchestrator_pb2_grpc
from tests.support.bad_tokens import BAD_TOKENS
from tests.support.credentials import SUBJECTS, Credentials, bearer
from tests.support.eligibility_oracle import citizens_decided

Code = grpc.StatusCode
CASEWORKER, ANALYST, AUDITOR, ADMIN = Role.CASEWORKER, Role.ANALYST, Role.AUDITOR, Role.ADMIN
OK, DENIED, PRECONDITION = Code.OK, Code.PERMISSION_DENIED, Code.FAILED_PRECONDITION
SERVICE = orchestrator_pb2.DESCRIPTOR.services_by_name["OrchestratorService"]


@dataclass(frozen=True)
class Runs:
    check: str
    appeal: str
    impact: str
    failed_check: str
    # A scheme of the module's own: version 1 drafted by an analyst, version 2 by the tests' admin.
    scheme: str
    # Review tasks of benefit applications the tests' caseworker submitted: one to claim, one nobody claims
    # (but a reassignment), one to decide.
    to_claim: str
    unclaimed: str
    to_decide: str


@dataclass(frozen=True)
class Row:
    rpc: str
    request: Callable[[Runs], Message]
    expected: dict[Role, Code]
    name: str = ""
    starts_runs: bool = False

    @property
    def id(self) -> str:
        return f"{self.rpc} {self.name}".strip()


def roles(*, caseworker: Code, analyst: Code, auditor: Code, admin: Code = OK) -> dict[Role, Code]:
    return {CASEWORKER: caseworker, ANALYST: analyst, AUDITOR: auditor, ADMIN: admin}


CASEWORK = roles(caseworker=OK, analyst=DENIED, auditor=OK)
ANALYSIS = roles(caseworker=DENIED, analyst=OK, auditor=OK)
RUN_CASEWORK = roles(caseworker=OK, analyst=DENIED, auditor=DENIED)
RUN_ANALYSIS = roles(caseworker=DENIED, analyst=OK, auditor=DENIED)

CHECK_INPUTS = {"citizen_id": "CIT-0000401", "scheme_name": "scheme_alpha"}
READ_REVIEWS = roles(caseworker=OK, analyst=DENIED, auditor=OK)
NOBODY = roles(caseworker=DENIED, analyst=DENIED, auditor=DENIED, admin=DENIED)
IMPACT_INPUTS = {"scheme_name": "scheme_alpha", "population_size": 20, "proposed_rules": {"max_income": 200000}}
APPEAL_INPUTS = {**CHECK_INPUTS, "new_data": {"income": 1000}}
READ_SCHEMES = roles(caseworker=OK, analyst=OK, auditor=OK)
SCHEME_DOCUMENT = json.loads((REPO_ROOT / "schemes" / "scheme_alpha.json").read_text())["document"]


def _publish(version: int, expected: dict[Role, Code], name: str) -> Row:
    def request(runs: Runs) -> Message:
        return orchestrator_pb2.PublishSchemeVersionRequest(
            scheme_name=runs.scheme, version=version, effective_from="2030-01-01"
        )

    return Row("PublishSchemeVersion", request, expected, name=name)


def _execute(template_id: str, inputs: dict[str, object], expected: dict[Role, Code]) -> Row:
    request = orchestrator_pb2.ExecuteWorkflowRequest(template_id=template_id, inputs_json=json.dumps(inputs))
    return Row("ExecuteWorkflow", lambda runs: request, expected, name=template_id, starts_runs=True)


def _appeal(original: Callable[[Runs], str], expected: dict[Role, Code], name: str) -> Row:
    def request(runs: Runs) -> Message:
        return orchestrator_pb2.SubmitAppealRequest(
            original_instance_id=original(runs), new_data_json=json.dumps({"income": 2000})
        )

    return Row("SubmitAppeal", request, expected, name=name, starts_runs=expected[CASEWORKER] == OK)


def _reads(rpc: str, request_type: type[Message]) -> list[Row]:
    """An RPC reading one run, for a run of each template."""

    def of(run: Callable[[Runs], str]) -> Callable[[Runs], Message]:
        return lambda runs: request_type(instance_id=run(runs))

    return [
        Row(rpc, of(lambda runs: runs.check), CASEWORK, name="eligibility_check"),
        Row(rpc, of(lambda runs: runs.appeal), CASEWORK, name="appeal_processing"),
        Row(rpc, of(lambda runs: runs.impact), ANALYSIS, name="impact_analysis"),
    ]


ROWS = [
    Row(
        "ListTemplates",
        lambda runs: orchestrator_pb2.ListTemplatesRequest(),
        roles(caseworker=OK, analyst=OK, auditor=OK),
    ),
    Row(
        "GetTemplate",
        lambda runs: orchestrator_pb2.GetTemplateRequest(template_id="eligibility_check"),
        roles(caseworker=OK, analyst=OK, auditor=OK),
    ),
    Row(
        "ReloadTemplates",
        lambda runs: orchestrator_pb2.ReloadTemplatesRequest(),
        roles(caseworker=DENIED, analyst=DENIED, auditor=DENIED),
    ),
    _execute("eligibility_check", CHECK_INPUTS, RUN_CASEWORK),
    _execute("appeal_processing", APPEAL_INPUTS, RUN_CASEWORK),
    _execute("impact_analysis", IMPACT_INPUTS, RUN_ANALYSIS),
    _execute("benefit_application", {**CHECK_INPUTS, "citizen_id": "CIT-0000001"}, RUN_CASEWORK),
    _appeal(lambda runs: runs.check, RUN_CASEWORK, "of a check"),
    _appeal(
        lambda runs: runs.failed_check,
        roles(caseworker=PRECONDITION, analyst=DENIED, auditor=DENIED, admin=PRECONDITION),
        "of a failed check",
    ),
    _appeal(
        lambda runs: runs.impact,
        roles(caseworker=DENIED, analyst=DENIED, auditor=DENIED, admin=PRECONDITION),
        "of an impact analysis",
    ),
    *_reads("GetWorkflow", orchestrator_pb2.GetWorkflowRequest),
    *_reads("WatchWorkflow", orchestrator_pb2.WatchWorkflowRequest),
    *_reads("GetAuditTrail", orchestrator_pb2.GetAuditTrailRequest),
    Row("GetImpactReport", lambda runs: orchestrator_pb2.GetImpactReportRequest(instance_id=runs.impact), ANALYSIS),
    Row(
        "GetImpactReport",
        lambda runs: orchestrator_pb2.GetImpactReportRequest(instance_id=runs.check),
        roles(caseworker=PRECONDITION, analyst=DENIED, auditor=PRECONDITION, admin=PRECONDITION),
        name="of an eligibility check",
    ),
    Row(
        "ListImpactResults",
        lambda runs: orchestrator_pb2.ListImpactResultsRequest(instance_id=runs.impact, limit=5),
        ANALYSIS,
    ),
    Row("GetSchemeDocumentSchema", lambda runs: orchestrator_pb2.GetSchemeDocumentSchemaRequest(), READ_SCHEMES),
    Row("ListSchemes", lambda runs: orchestrator_pb2.ListSchemesRequest(), READ_SCHEMES),
    Row("GetScheme", lambda runs: orchestrator_pb2.GetSchemeRequest(scheme_name=runs.scheme), READ_SCHEMES),
    Row(
        "GetSchemeVersion",
        lambda runs: orchestrator_pb2.GetSchemeVersionRequest(scheme_name=runs.scheme, version=1),
        READ_SCHEMES,
    ),
    Row(
        "CreateSchemeVersion",
        lambda runs: orchestrator_pb2.CreateSchemeVersionRequest(
            scheme_name=runs.scheme, document_json=json.dumps(SCHEME_DOCUMENT)
        ),
        roles(caseworker=DENIED, analyst=OK, auditor=DENIED),
    ),
    # Four eyes: nobody publishes a draft of their own, an admin neither.
    _publish(2, roles(caseworker=DENIED, analyst=DENIED, auditor=DENIED, admin=DENIED), "of one's own draft"),
    _publish(1, roles(caseworker=DENIED, analyst=DENIED, auditor=DENIED), "of another's draft"),
    # Every role lists runs: those of the templates it may read (an empty list for none).
    Row(
        "ListWorkflows",
        lambda runs: orchestrator_pb2.ListWorkflowsRequest(limit=5),
        roles(caseworker=OK, analyst=OK, auditor=OK),
    ),
    Row(
        "ListWorkflows",
        lambda runs: orchestrator_pb2.ListWorkflowsRequest(template_id="impact_analysis", limit=5),
        ANALYSIS,
        name="of impact_analysis",
    ),
    Row(
        "ListWorkflows",
        lambda runs: orchestrator_pb2.ListWorkflowsRequest(template_id="eligibility_check", limit=5),
        CASEWORK,
        name="of eligibility_check",
    ),
    Row("ListReviews", lambda runs: orchestrator_pb2.ListReviewsRequest(), READ_REVIEWS),
    Row("GetReview", lambda runs: orchestrator_pb2.GetReviewRequest(review_task_id=runs.to_claim), READ_REVIEWS),
    # Four eyes: the caseworker submitted these applications; admin may work on any other's.
    Row(
        "ClaimReview",
        lambda runs: orchestrator_pb2.ClaimReviewRequest(review_task_id=runs.to_claim),
        roles(caseworker=DENIED, analyst=DENIED, auditor=DENIED),
    ),
    Row("UnclaimReview", lambda runs: orchestrator_pb2.UnclaimReviewRequest(review_task_id=runs.unclaimed), NOBODY),
    Row(
        "ReassignReview",
        lambda runs: orchestrator_pb2.ReassignReviewRequest(review_task_id=runs.unclaimed, assignee="caseworker-2"),
        roles(caseworker=DENIED, analyst=DENIED, auditor=DENIED),
    ),
    Row(
        "DecideReview",
        lambda runs: orchestrator_pb2.DecideReviewRequest(
            review_task_id=runs.to_decide, decision="ELIGIBLE", justification="Checked against the payslips on file."
        ),
        NOBODY,
    ),
]
ONE_PER_RPC = list({row.rpc: row for row in ROWS}.values())


@pytest.fixture(scope="module")
def orchestrator(
    credentials: Credentials, orchestrator_target: str
) -> Iterator[orchestrator_pb2_grpc.OrchestratorServiceStub]:
    """A direct client with TLS trusting the session's authority and no certificate or token of its own."""
    with credentials.channel(orchestrator_target, server=ServiceIdentity.ORCHESTRATOR) as channel:
        yield orchestrator_pb2_grpc.OrchestratorServiceStub(channel)


@pytest.fixture(scope="module")
def runs(orchestrator: orchestrator_pb2_grpc.OrchestratorServiceStub, credentials: Credentials) -> Runs:
    admin = bearer(credentials.token(ADMIN))

    def execute(template_id: str, inputs: dict[str, object]) -> orchestrator_pb2.WorkflowInstance:
        request = orchestrator_pb2.ExecuteWorkflowRequest(template_id=template_id, inputs_json=json.dumps(inputs))
        return orchestrator.ExecuteWorkflow(request, metadata=admin, timeout=60).instance

    check = execute("eligibility_check", {"citizen_id": "CIT-0000400", "scheme_name": "scheme_alpha"})
    appeal = orchestrator.SubmitAppeal(
        orchestrator_pb2.SubmitAppealRequest(
            original_instance_id=check.instance_id, new_data_json=json.dumps({"income": 1000})
        ),
        metadata=admin,
        timeout=60,
    )
    impact = execute("impact_analysis", IMPACT_INPUTS)
    failed = execute("eligibility_check", {"citizen_id": "CIT-0000400", "scheme_name": "scheme_zeta"})
    assert failed.status == orchestrator_pb2.RUN_STATUS_FAILED
    scheme = f"access_{uuid.uuid4().hex[:8]}"
    for drafter in (bearer(credentials.token(ANALYST)), admin):
        orchestrator.CreateSchemeVersion(
            orchestrator_pb2.CreateSchemeVersionRequest(scheme_name=scheme, document_json=json.dumps(SCHEME_DOCUMENT)),
            metadata=drafter,
            timeout=60,
        )
    caseworker = bearer(credentials.token(CASEWORKER))
    to_claim, unclaimed, to_decide = (
        orchestrator.ExecuteWorkflow(
            orchestrator_pb2.ExecuteWorkflowRequest(
                template_id="benefit_application",
                inputs_json=json.dumps({"citizen_id": citizen_id, "scheme_name": "scheme_alpha"}),
            ),
            metadata=caseworker,
            timeout=60,
        ).instance.waiting_for_review_task_id
        for citizen_id in citizens_decided("NEEDS_REVIEW", "scheme_alpha", count=3, start=800)
    )
    return Runs(
        to_claim=to_claim,
        unclaimed=unclaimed,
        to_decide=to_decide,
        check=check.instance_id,
        appeal=appeal.new_instance.instance_id,
        impact=impact.instance_id,
        failed_check=failed.instance_id,
        scheme=scheme,
    )


@pytest.fixture(scope="module")
def count_instances(owner: sa.Engine) -> Callable[[], int]:
    def count() -> int:
        with owner.connect() as connection:
            return int(connection.execute(sa.text("SELECT count(*) FROM orchestrator.workflow_instances")).scalar_one())

    return count


def call(
    orchestrator: orchestrator_pb2_grpc.OrchestratorServiceStub,
    row: Row,
    runs: Runs,
    metadata: tuple[tuple[str, str], ...] = (),
) -> grpc.RpcError | None:
    """Makes the row's call (reading a stream to its end); the error it ended with, or None."""
    method = getattr(orchestrator, row.rpc)
    try:
        answer = method(row.request(runs), metadata=metadata, timeout=60)
        if SERVICE.methods_by_name[row.rpc].server_streaming:
            list(answer)
    except grpc.RpcError as error:
        return error
    return None


def code_of(error: grpc.RpcError | None) -> Code:
    return OK if error is None else error.code()


def test_every_rpc_of_the_service_has_a_row() -> None:
    assert {row.rpc for row in ROWS} == {method.name for method in SERVICE.methods}


@pytest.mark.parametrize("row", ONE_PER_RPC, ids=lambda row: row.rpc)
def test_without_a_token_every_rpc_is_unauthenticated(
    row: Row,
    orchestrator: orchestrator_pb2_grpc.OrchestratorServiceStub,
    runs: Runs,
    count_instances: Callable[[], int],
) -> None:
    before = count_instances()

    error = call(orchestrator, row, runs)

    assert code_of(error) == Code.UNAUTHENTICATED
    assert error is not None and error.details() == "no bearer token: send 'Authorization: Bearer <token>'"
    assert count_instances() == before


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.id)
def test_each_role_is_allowed_or_refused_as_the_matrix_says(
    row: Row,
    role: Role,
    orchestrator: orchestrator_pb2_grpc.OrchestratorServiceStub,
    credentials: Credentials,
    runs: Runs,
    count_instances: Callable[[], int],
) -> None:
    before = count_instances()

    error = call(orchestrator, row, runs, bearer(credentials.token(role)))

    assert code_of(error) == row.expected[role], error
    if error is not None and error.code() == DENIED:
        assert error.details().startswith(f"'{SUBJECTS[role]}' may not ")
        assert count_instances() == before
    elif row.starts_runs and error is None:
        assert count_instances() > before


@pytest.mark.parametrize("kind", BAD_TOKENS)
def test_a_token_that_proves_nothing_is_unauthenticated_on_every_rpc(
    kind: str,
    orchestrator: orchestrator_pb2_grpc.OrchestratorServiceStub,
    credentials: Credentials,
    runs: Runs,
    count_instances: Callable[[], int],
) -> None:
    metadata = bearer(BAD_TOKENS[kind](credentials))
    before = count_instances()

    codes = {row.rpc: code_of(call(orchestrator, row, runs, metadata)) for row in ONE_PER_RPC}

    assert codes == {row.rpc: Code.UNAUTHENTICATED for row in ONE_PER_RPC}
    assert count_instances() == before


def test_a_client_with_only_the_authoritys_certificate_and_a_token_is_served(
    credentials: Credentials, orchestrator_target: str
) -> None:
    # As docs/api.md's client: the CA file, the address, a token; no certificate, no name override.
    tls = grpc.ssl_channel_credentials(root_certificates=credentials.pki.ca.read_bytes())
    with grpc.secure_channel(orchestrator_target, tls) as channel:
        stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
        reply = stub.ListTemplates(
            orchestrator_pb2.ListTemplatesRequest(), metadata=bearer(credentials.token(CASEWORKER)), timeout=10
        )
    assert {template.template_id for template in reply.templates} >= {"eligibility_check", "impact_analysis"}


def test_a_plaintext_client_is_not_served(credentials: Credentials, orchestrator_target: str) -> None:
    with grpc.insecure_channel(orchestrator_target) as channel:
        stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            stub.ListTemplates(
                orchestrator_pb2.ListTemplatesRequest(), metadata=bearer(credentials.token(ADMIN)), timeout=10
            )
    assert refused.value.code() == Code.UNAVAILABLE


def test_a_service_certificate_is_no_token(credentials: Credentials, orchestrator_target: str) -> None:
    # The gateway's own identity does not stand for a person: what it calls for someone, it calls with their token.
    with credentials.channel(
        orchestrator_target, server=ServiceIdentity.ORCHESTRATOR, as_=ServiceIdentity.GATEWAY
    ) as channel:
        stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            stub.ListTemplates(orchestrator_pb2.ListTemplatesRequest(), timeout=10)
    assert refused.value.code() == Code.UNAUTHENTICATED
