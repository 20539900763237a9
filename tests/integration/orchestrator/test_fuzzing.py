"""Every orchestrator RPC, sent malformed and extreme messages, answers a code of the contract, never UNKNOWN/INTERNAL.

The real orchestrator on loopback, called over TLS with an admin's token (so that no refusal of
access hides what validation does): huge strings, NUL, JSON thousands deep, integers and floats at
and past their limits, empty messages, and bytes that are no protobuf message at all; then
random JSON text and random bytes from hypothesis.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from civicflow.auth.principals import Role
from civicflow.v1 import orchestrator_pb2 as pb
from tests.support.credentials import Credentials

FORBIDDEN_CODES = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL}
INTERNALS = re.compile(r"<class|Traceback|Error\b|Exception|psycopg2|sqlalchemy|rfc8785")
SERVICE = "/civicflow.v1.OrchestratorService/"
RPCS = [
    "ListTemplates",
    "ExecuteWorkflow",
    "GetWorkflow",
    "WatchWorkflow",
    "GetAuditTrail",
    "SubmitAppeal",
    "GetImpactReport",
    "ListImpactResults",
    "GetSchemeDocumentSchema",
    "ListSchemes",
    "GetScheme",
    "GetSchemeVersion",
    "CreateSchemeVersion",
    "PublishSchemeVersion",
    "ListWorkflows",
]
STREAMING = {"WatchWorkflow"}

HUGE = "x" * 200_000
DEEP_JSON = ["[" * 5_000 + "]" * 5_000, '{"a":' * 5_000 + "1" + "}" * 5_000, '{"a":' * 40 + "1" + "}" * 40]
TEXTS = ["", HUGE, "\x00", "a\x00b", "CIT-0000042\n", "\n", "💥" * 1000, "'; DROP TABLE x; --", "%s%n", "{", "null"]
JSON_TEXTS = [
    *DEEP_JSON,
    "NaN",
    "[Infinity]",
    "1e400",
    "-1e400",
    str(2**70),
    "9" * 5_000,
    '"\\ud800"',
    '{"scheme_name": "a\\u0000b", "citizen_id": "CIT-0000001"}',
    '{"scheme_name": "scheme_alpha", "population_size": 10, "proposed_rules": {"max_income": 1e308}}',
    '{"citizen_id": "CIT-0000042\\n", "scheme_name": "scheme_alpha"}',
    json.dumps({"citizen_id": HUGE, "scheme_name": "scheme_alpha"}),
    json.dumps({HUGE: 1}),
    "[]",
    '"text"',
    "not json",
    "",
]
INT64 = [-(2**63), -1, 0, 2**63 - 1]
INT32 = [-(2**31), -1, 0, 2**31 - 1]
ENUMS = [-1, 0, 3, 2**31 - 1]


def extreme_requests() -> Iterator[tuple[str, Message]]:
    yield "ListTemplates", pb.ListTemplatesRequest()
    for text in [*TEXTS, "t" * 65, "no_such_template"]:
        yield "ExecuteWorkflow", pb.ExecuteWorkflowRequest(template_id=text, inputs_json="{}")
    for template_id in ("eligibility_check", "impact_analysis"):
        for inputs in [*JSON_TEXTS, *TEXTS]:
            yield "ExecuteWorkflow", pb.ExecuteWorkflowRequest(template_id=template_id, inputs_json=inputs)
    for mode in ENUMS:
        yield "ExecuteWorkflow", pb.ExecuteWorkflowRequest(template_id="eligibility_check", inputs_json="{}", mode=mode)  # type: ignore[arg-type]
    for key in TEXTS:
        request = pb.ExecuteWorkflowRequest(template_id="eligibility_check", inputs_json="[]", idempotency_key=key)
        yield "ExecuteWorkflow", request
    for instance_id in [*TEXTS, str(uuid.uuid4()), f"{uuid.uuid4()}\n", "urn:uuid:" + str(uuid.uuid4())]:
        yield "GetWorkflow", pb.GetWorkflowRequest(instance_id=instance_id)
        yield "WatchWorkflow", pb.WatchWorkflowRequest(instance_id=instance_id)
        yield "GetAuditTrail", pb.GetAuditTrailRequest(instance_id=instance_id)
        yield "GetImpactReport", pb.GetImpactReportRequest(instance_id=instance_id)
        yield "ListImpactResults", pb.ListImpactResultsRequest(instance_id=instance_id)
        yield "SubmitAppeal", pb.SubmitAppealRequest(original_instance_id=instance_id, new_data_json="{}")
    for evidence in JSON_TEXTS:
        yield "SubmitAppeal", pb.SubmitAppealRequest(original_instance_id=str(uuid.uuid4()), new_data_json=evidence)
    for key in TEXTS:
        request = pb.SubmitAppealRequest(
            original_instance_id=str(uuid.uuid4()), new_data_json="{}", idempotency_key=key
        )
        yield "SubmitAppeal", request
    for offset in INT64:
        for limit in INT32:
            yield (
                "ListImpactResults",
                pb.ListImpactResultsRequest(instance_id=str(uuid.uuid4()), offset=offset, limit=limit),
            )


def extreme_scheme_requests() -> Iterator[tuple[str, Message]]:
    yield "GetSchemeDocumentSchema", pb.GetSchemeDocumentSchemaRequest()
    yield "ListSchemes", pb.ListSchemesRequest()
    # Fewer than the RPCs above send: the session's rate limit counts every call of the subject.
    for name in ["", HUGE, "a\x00b", "💥" * 1000, "n" * 65, "schema", "no_such_scheme"]:
        yield "GetScheme", pb.GetSchemeRequest(scheme_name=name)
        yield "CreateSchemeVersion", pb.CreateSchemeVersionRequest(scheme_name=name, document_json="{}")
    for version in INT32:
        yield "GetSchemeVersion", pb.GetSchemeVersionRequest(scheme_name="scheme_alpha", version=version)
        day = "2030-01-01"
        request = pb.PublishSchemeVersionRequest(scheme_name="scheme_alpha", version=version, effective_from=day)
        yield "PublishSchemeVersion", request
    for document in [*DEEP_JSON, "NaN", "1e400", "[]", "not json", "", "\x00", HUGE]:
        yield "CreateSchemeVersion", pb.CreateSchemeVersionRequest(scheme_name="fuzzed_scheme", document_json=document)
    for day in ["", "2026-02-30", "2026-W01-1", "20260101", "9999-99-99", "a\x00b"]:
        request = pb.PublishSchemeVersionRequest(scheme_name="scheme_alpha", version=1, effective_from=day)
        yield "PublishSchemeVersion", request


def extreme_run_list_requests() -> Iterator[tuple[str, Message]]:
    yield "ListWorkflows", pb.ListWorkflowsRequest()
    for text in ["", HUGE, "a\x00b", "💥" * 1000, "'; DROP TABLE x; --", "%s%n"]:
        yield "ListWorkflows", pb.ListWorkflowsRequest(template_id=text)
        yield "ListWorkflows", pb.ListWorkflowsRequest(citizen_id=text, actor=text)
        yield "ListWorkflows", pb.ListWorkflowsRequest(cursor=text)
    for status in ENUMS:
        yield "ListWorkflows", pb.ListWorkflowsRequest(status=status)  # type: ignore[arg-type]
    for limit in INT32:
        yield "ListWorkflows", pb.ListWorkflowsRequest(limit=limit)
    for seconds in INT64:
        for nanos in (0, -1, 999_999_999, 2**31 - 1):
            moment = Timestamp(seconds=seconds, nanos=nanos)
            yield "ListWorkflows", pb.ListWorkflowsRequest(created_after=moment, created_before=moment)


# Bytes that do not parse as the request message: a truncated varint, a wrong wire type, a length past the end,
# a field 1 (a string in most requests) that is not UTF-8, and groups nested far too deep.
MALFORMED = [
    b"\xff",
    b"\x08\xff\xff\xff",
    b"\x0a\x05ab",
    b"\x0a\x02\xff\xfe",
    b"\x0b" * 200 + b"\x0c" * 200,
    b"\x0a" * 64,
]


@pytest.fixture(scope="module")
def channel(credentials: Credentials, orchestrator_target: str) -> Iterator[grpc.Channel]:
    with credentials.orchestrator_channel(orchestrator_target, role=Role.ADMIN) as channel:
        yield channel


@pytest.fixture(scope="module")
def scheme_channel(credentials: Credentials, orchestrator_target: str) -> Iterator[grpc.Channel]:
    """Another admin: the rate limit is per subject, and the first admin's calls use up its allowance."""
    token = credentials.issue("schemes-fuzzer", Role.ADMIN)
    with credentials.orchestrator_channel(orchestrator_target, token=token) as channel:
        yield channel


@pytest.fixture(scope="module")
def run_list_channel(credentials: Credentials, orchestrator_target: str) -> Iterator[grpc.Channel]:
    """An admin of its own, for the same reason."""
    token = credentials.issue("run-list-fuzzer", Role.ADMIN)
    with credentials.orchestrator_channel(orchestrator_target, token=token) as channel:
        yield channel


def call(channel: grpc.Channel, rpc: str, payload: bytes, *, timeout: float = 30) -> grpc.StatusCode:
    """The code the RPC ends with, raw bytes in; its details must name nothing internal."""
    identity: Callable[[bytes], bytes] = lambda data: data  # noqa: E731
    try:
        if rpc in STREAMING:
            for _ in channel.unary_stream(SERVICE + rpc, identity, identity)(payload, timeout=timeout):
                pass
        else:
            channel.unary_unary(SERVICE + rpc, identity, identity)(payload, timeout=timeout)
    except grpc.RpcError as error:
        code: Any = error.code()  # type: ignore[attr-defined]
        details = error.details() or ""  # type: ignore[attr-defined]
        assert code not in FORBIDDEN_CODES, f"{rpc}: {code.name} {details[:300]}"
        assert not INTERNALS.search(details), f"{rpc}: {code.name} {details[:300]}"
        assert len(details) < 4096, f"{rpc}: {len(details)} characters of details"
        return code  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def test_extreme_messages_to_every_rpc_answer_a_contract_code(
    channel: grpc.Channel, scheme_channel: grpc.Channel, run_list_channel: grpc.Channel
) -> None:
    codes: dict[str, set[str]] = {}
    for rpc, request in extreme_requests():
        codes.setdefault(rpc, set()).add(call(channel, rpc, request.SerializeToString()).name)
    for rpc, request in extreme_scheme_requests():
        codes.setdefault(rpc, set()).add(call(scheme_channel, rpc, request.SerializeToString()).name)
    for rpc, request in extreme_run_list_requests():
        codes.setdefault(rpc, set()).add(call(run_list_channel, rpc, request.SerializeToString()).name)

    assert set(codes) == set(RPCS)
    # Each RPC refused something as the client's mistake; none of these requests created a run.
    without_arguments = {"ListTemplates", "GetSchemeDocumentSchema", "ListSchemes"}
    assert all("INVALID_ARGUMENT" in found for rpc, found in codes.items() if rpc not in without_arguments), codes


@pytest.mark.parametrize("rpc", RPCS)
def test_bytes_that_are_no_message_are_invalid_argument(channel: grpc.Channel, rpc: str) -> None:
    # A truncated tag parses as no message at all; the others may parse, as unknown fields, into another request.
    assert call(channel, rpc, b"\xff") == grpc.StatusCode.INVALID_ARGUMENT
    for payload in MALFORMED:
        call(channel, rpc, payload)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rpc=st.sampled_from(RPCS), payload=st.binary(max_size=256))
def test_random_bytes_never_end_unknown_or_internal(channel: grpc.Channel, rpc: str, payload: bytes) -> None:
    call(channel, rpc, payload)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=100),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=20), children, max_size=4),
    max_leaves=30,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(template_id=st.sampled_from(["eligibility_check", "impact_analysis"]), inputs=JSON_VALUES)
def test_random_inputs_never_end_unknown_or_internal(channel: grpc.Channel, template_id: str, inputs: Any) -> None:
    # Python's encoder writes NaN and Infinity as bare words, which no JSON reader accepts: refused as not JSON.
    request = pb.ExecuteWorkflowRequest(
        template_id=template_id, inputs_json=json.dumps(inputs), mode=pb.EXECUTION_MODE_ASYNC
    )
    call(channel, "ExecuteWorkflow", request.SerializeToString())
