"""Every audit service RPC, sent malformed and extreme messages, answers a code of the contract, never UNKNOWN/INTERNAL.

Each RPC is called as the service allowed to call it (appends as the orchestrator, reads as the
gateway with an auditor's token). No request here is a valid record: the log does not grow.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message

from civicflow.auth.access import SERVICE_RULES, ServiceIdentity
from civicflow.auth.principals import Role
from civicflow.v1 import audit_pb2 as pb
from tests.support.credentials import Credentials

FORBIDDEN_CODES = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL}
INTERNALS = re.compile(r"<class|Traceback|Error\b|Exception|psycopg2|sqlalchemy|rfc8785")
SERVICE = "/civicflow.v1.AuditService/"
RPCS = [
    "AppendEntries",
    "ListEntries",
    "GetEntry",
    "GetCheckpoint",
    "ListCheckpoints",
    "GetPublicKey",
    "ListPublicKeys",
    "GetInclusionProof",
    "GetConsistencyProof",
    "VerifyLog",
]
INT64 = [-(2**63), -1, 2**63 - 1]
INT32 = [-(2**31), -1, 2**31 - 1]
HUGE = "x" * 200_000
TEXTS = ["", HUGE, "\x00", "a\x00b", "\n", "{"]
MALFORMED = [b"\xff", b"\x08\xff\xff\xff", b"\x0a\x05ab", b"\x0a\x02\xff\xfe", b"\x0b" * 200 + b"\x0c" * 200]


def record(**fields: Any) -> pb.AuditRecord:
    """A record that is valid but for the fields given: each case below breaks at least one."""
    values: dict[str, Any] = {
        "instance_id": "00000000-0000-4000-8000-000000000001",
        "step_name": "fetch_citizen",
        "step_index": 0,
        "attempt": 1,
        "status": pb.STEP_STATUS_SUCCESS,
        "input_json": "{}",
        "output_json": "{}",
    } | fields
    message = pb.AuditRecord(**values)
    message.started_at.GetCurrentTime()
    message.completed_at.GetCurrentTime()
    return message


BAD_JSON = [
    "[" * 5_000 + "]" * 5_000,
    '{"a":' * 40 + "1" + "}" * 40,
    "NaN",
    "1e400",
    str(2**70),
    "9" * 5_000,
    '"\\ud800"',
    '"a\\u0000b"',
    json.dumps({"max_income": 1e308}),
    "not json",
    "",
]


def extreme_requests() -> Iterator[tuple[str, Message]]:
    yield "AppendEntries", pb.AppendEntriesRequest()
    for text in BAD_JSON:
        yield "AppendEntries", pb.AppendEntriesRequest(records=[record(input_json=text)])
        yield "AppendEntries", pb.AppendEntriesRequest(records=[record(output_json=text)])
    for text in TEXTS:
        yield "AppendEntries", pb.AppendEntriesRequest(records=[record(instance_id=text)])
        yield "AppendEntries", pb.AppendEntriesRequest(records=[record(step_name=text, input_json="NaN")])
        yield "AppendEntries", pb.AppendEntriesRequest(records=[record(idempotency_key=text, input_json="NaN")])
        yield "ListEntries", pb.ListEntriesRequest(instance_id=text)
    for value in INT32:
        yield "AppendEntries", pb.AppendEntriesRequest(records=[record(step_index=value, attempt=value, status=value)])
    for value in INT64:
        yield "GetEntry", pb.GetEntryRequest(seq=value)
        yield "GetInclusionProof", pb.GetInclusionProofRequest(seq=value, tree_size=value)
        yield "GetInclusionProof", pb.GetInclusionProofRequest(seq=0, tree_size=value)
        yield "GetConsistencyProof", pb.GetConsistencyProofRequest(first=value, second=value)
        yield "GetConsistencyProof", pb.GetConsistencyProofRequest(first=1, second=value)
        for limit in INT32:
            yield "ListCheckpoints", pb.ListCheckpointsRequest(offset=value, limit=limit)
    for rpc in ("GetCheckpoint", "GetPublicKey", "ListPublicKeys", "VerifyLog"):
        yield rpc, getattr(pb, f"{rpc}Request")()


@pytest.fixture(scope="module")
def channels(credentials: Credentials, own_audit_target: str) -> Iterator[dict[ServiceIdentity, grpc.Channel]]:
    """To an audit service on a log of the module's own: only then does "the log did not grow" mean these requests
    appended nothing."""
    server = ServiceIdentity.AUDIT_SERVICE
    auditor = credentials.token(Role.AUDITOR)
    with (
        credentials.channel(own_audit_target, server=server, as_=ServiceIdentity.ORCHESTRATOR) as orchestrator,
        credentials.channel(own_audit_target, server=server, as_=ServiceIdentity.GATEWAY, token=auditor) as gateway,
    ):
        yield {ServiceIdentity.ORCHESTRATOR: orchestrator, ServiceIdentity.GATEWAY: gateway}


def call(channels: dict[ServiceIdentity, grpc.Channel], rpc: str, payload: bytes) -> grpc.StatusCode:
    """The code the RPC ends with, sent as the service allowed to call it; its details name nothing internal."""
    caller = ServiceIdentity.ORCHESTRATOR if ServiceIdentity.ORCHESTRATOR in SERVICE_RULES[rpc].callers else None
    channel = channels[caller or ServiceIdentity.GATEWAY]
    identity: Callable[[bytes], bytes] = lambda data: data  # noqa: E731
    try:
        channel.unary_unary(SERVICE + rpc, identity, identity)(payload, timeout=60)
    except grpc.RpcError as error:
        code: Any = error.code()  # type: ignore[attr-defined]
        details = error.details() or ""  # type: ignore[attr-defined]
        assert code not in FORBIDDEN_CODES, f"{rpc}: {code.name} {details[:300]}"
        assert not INTERNALS.search(details), f"{rpc}: {code.name} {details[:300]}"
        assert len(details) < 4096, f"{rpc}: {len(details)} characters of details"
        return code  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def tree_size(channels: dict[ServiceIdentity, grpc.Channel]) -> int:
    reply = channels[ServiceIdentity.GATEWAY].unary_unary(
        SERVICE + "VerifyLog", pb.VerifyLogRequest.SerializeToString, pb.VerifyLogResponse.FromString
    )(pb.VerifyLogRequest(), timeout=60)
    return int(reply.tree_size)


def test_extreme_messages_to_every_rpc_answer_a_contract_code_and_append_nothing(
    channels: dict[ServiceIdentity, grpc.Channel],
) -> None:
    size_before = tree_size(channels)
    codes: dict[str, set[str]] = {}
    for rpc, request in extreme_requests():
        codes.setdefault(rpc, set()).add(call(channels, rpc, request.SerializeToString()).name)

    assert set(codes) == set(RPCS)
    assert codes["AppendEntries"] == {"INVALID_ARGUMENT"}
    assert tree_size(channels) == size_before


@pytest.mark.parametrize("rpc", RPCS)
def test_bytes_that_are_no_message_are_invalid_argument(
    channels: dict[ServiceIdentity, grpc.Channel], rpc: str
) -> None:
    # A truncated tag parses as no message at all; the others may parse, as unknown fields, into another request.
    assert call(channels, rpc, b"\xff") == grpc.StatusCode.INVALID_ARGUMENT
    for payload in MALFORMED:
        call(channels, rpc, payload)
