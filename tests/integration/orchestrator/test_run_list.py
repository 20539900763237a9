"""ListWorkflows over gRPC on a real orchestrator: 10,000 runs seeded straight into the session's database
(bench/run_list_seed.py), each filter, paging across all of them, the cursor as hostile input, and the runs each
role may read."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from google.protobuf.timestamp_pb2 import Timestamp

from bench.run_list_seed import WITHOUT_CITIZEN, RunListShape
from civicflow.auth.access import ServiceIdentity
from civicflow.auth.principals import Role
from civicflow.v1 import orchestrator_pb2, orchestrator_pb2_grpc
from tests.support.credentials import Credentials, bearer

Request = orchestrator_pb2.ListWorkflowsRequest
STATUS_VALUES = {"completed": orchestrator_pb2.RUN_STATUS_COMPLETED, "failed": orchestrator_pb2.RUN_STATUS_FAILED}


@pytest.fixture(scope="module")
def orchestrator(
    credentials: Credentials, orchestrator_target: str
) -> Iterator[orchestrator_pb2_grpc.OrchestratorServiceStub]:
    with credentials.channel(orchestrator_target, server=ServiceIdentity.ORCHESTRATOR) as channel:
        yield orchestrator_pb2_grpc.OrchestratorServiceStub(channel)


def stamp(moment: datetime) -> Timestamp:
    result = Timestamp()
    result.FromDatetime(moment)
    return result


def seeded_window(shape: RunListShape) -> dict[str, Timestamp]:
    """created_after and created_before that hold the seeded runs and nothing else (they are a day old)."""
    return {
        "created_after": stamp(shape.created_at_of(shape.runs - 1)),
        "created_before": stamp(shape.newest + timedelta(seconds=1)),
    }


def list_all(
    orchestrator: orchestrator_pb2_grpc.OrchestratorServiceStub, request: Request, token: str
) -> list[orchestrator_pb2.WorkflowSummary]:
    """Every page of the list, following next_cursor to the end."""
    items: list[orchestrator_pb2.WorkflowSummary] = []
    while True:
        reply = orchestrator.ListWorkflows(request, metadata=bearer(token), timeout=60)
        assert len(reply.items) <= (request.limit or 50)
        items += reply.items
        if not reply.next_cursor:
            return items
        assert len(reply.items) == (request.limit or 50)
        request = Request(**{**_fields(request), "cursor": reply.next_cursor})


def _fields(request: Request) -> dict[str, Any]:
    return {field.name: value for field, value in request.ListFields()}


def key(item: orchestrator_pb2.WorkflowSummary) -> tuple[datetime, str]:
    return (item.created_at.ToDatetime(), item.instance_id)


def described(items: list[orchestrator_pb2.WorkflowSummary]) -> list[tuple[datetime, str, str, str]]:
    names = {value: name for name, value in STATUS_VALUES.items()}
    return sorted((key(item)[0], item.template_id, item.actor, names[item.status]) for item in items)


def expected(shape: RunListShape, listed: Callable[[int], bool]) -> list[tuple[datetime, str, str, str]]:
    return sorted(
        (shape.created_at_of(n).replace(tzinfo=None), shape.template_of(n), shape.actor_of(n), shape.status_of(n))
        for n in range(shape.runs)
        if listed(n)
    )


def test_paging_across_10000_runs_lists_each_once_newest_first(
    orchestrator: orchestrator_pb2_grpc.OrchestratorServiceStub,
    credentials: Credentials,
    seeded_runs: RunListShape,
    owner: sa.Engine,
) -> None:
    items = list_all(orchestrator, Request(limit=500, **seeded_window(seeded_runs)), credentials.token(Role.ADMIN))

    assert len(items) == seeded_runs.runs == len({item.instance_id for item in items})
    assert [key(item) for item in items] == sorted((key(item) for item in items), reverse=True)
    assert described(items) == expected(seeded_runs, lambda n: True)
    # The order is the database's: created_at, then instance_id, both descending.
    with owner.connect() as connection:
        oracle = connection.execute(
            sa.text(
                "SELECT instance_id::text FROM orchestrator.workflow_instances WHERE actor = ANY(:actors)"
                " ORDER BY created_at DESC, instance_id DESC"
            ),
            {"actors": list(seeded_runs.actors)},
        ).scalars()
        assert [item.instance_id for item in items] == list(oracle)


def test_pages_of_the_default_size_hold_50_runs(
    orchestrator: orchestrator_pb2_grpc.OrchestratorServiceStub, credentials: Credentials, seeded_runs: RunListShape
) -> None:
    request = Request(actor=seeded_runs.actors[0])
    reply = orchestrator.ListWorkflows(request, metadata=bearer(credentials.token(Role.ADMIN)), timeout=60)
    assert len(reply.items) == 50 and reply.next_cursor
    first = reply.items[0]
    assert (first.template_version, first.HasField("completed_at")) == (seeded_runs.template_version, True)


def _filters(shape: RunListShape) -> list[tuple[str, dict[str, Any], Callable[[int], bool]]]:
    citizen = f"{shape.citizen_prefix}{7:07d}"
    return [
        (
            "template_id",
            {"template_id": "benefit_application"},
            lambda n: shape.template_of(n) == "benefit_application",
        ),
        ("status", {"status": STATUS_VALUES["failed"]}, lambda n: shape.status_of(n) == "failed"),
        ("citizen_id", {"citizen_id": citizen}, lambda n: shape.citizen_of(n) == citizen),
        ("actor", {"actor": shape.actors[2]}, lambda n: shape.actor_of(n) == shape.actors[2]),
        (
            "created range",
            {
                "created_after": stamp(shape.created_at_of(3000)),
                "created_before": stamp(shape.created_at_of(1000)),
            },
            lambda n: shape.created_at_of(3000) <= shape.created_at_of(n) < shape.created_at_of(1000),
        ),
        (
            "all at once",
            {
                "template_id": "eligibility_check",
                "status": STATUS_VALUES["completed"],
                "actor": shape.actors[1],
                "created_after": stamp(shape.created_at_of(6000)),
            },
            lambda n: (
                shape.template_of(n) == "eligibility_check"
                and shape.status_of(n) == "completed"
                and shape.actor_of(n) == shape.actors[1]
                and n <= 6001
            ),
        ),
    ]


@pytest.mark.parametrize("index", range(6), ids=["template_id", "status", "citizen_id", "actor", "created", "all"])
def test_each_filter_lists_exactly_its_runs(
    index: int,
    orchestrator: orchestrator_pb2_grpc.OrchestratorServiceStub,
    credentials: Credentials,
    seeded_runs: RunListShape,
) -> None:
    _, fields, listed = _filters(seeded_runs)[index]
    window = seeded_window(seeded_runs)

    items = list_all(orchestrator, Request(limit=200, **{**window, **fields}), credentials.token(Role.AUDITOR))

    wanted = expected(seeded_runs, listed)
    assert wanted, "the filter must list something"
    assert described(items) == wanted
    assert [key(item) for item in items] == sorted((key(item) for item in items), reverse=True)


def test_a_caller_lists_only_runs_of_templates_its_roles_may_read(
    orchestrator: orchestrator_pb2_grpc.OrchestratorServiceStub, credentials: Credentials, seeded_runs: RunListShape
) -> None:
    request = Request(limit=500, actor=seeded_runs.actors[3])
    of_actor = [n for n in range(seeded_runs.runs) if seeded_runs.actor_of(n) == seeded_runs.actors[3]]
    templates = {
        role: {item.template_id for item in list_all(orchestrator, request, credentials.token(role))} for role in Role
    }
    counts = {role: len(list_all(orchestrator, request, credentials.token(role))) for role in Role}

    assert templates[Role.CASEWORKER] == set(seeded_runs.templates) - WITHOUT_CITIZEN
    assert templates[Role.ANALYST] == {"impact_analysis"}
    assert templates[Role.AUDITOR] == templates[Role.ADMIN] == set(seeded_runs.templates)
    assert counts[Role.ADMIN] == len(of_actor) == counts[Role.CASEWORKER] + counts[Role.ANALYST]


def test_a_template_the_caller_may_not_read_is_refused_as_reading_its_run_is(
    orchestrator: orchestrator_pb2_grpc.OrchestratorServiceStub, credentials: Credentials
) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        orchestrator.ListWorkflows(
            Request(template_id="impact_analysis"), metadata=bearer(credentials.token(Role.CASEWORKER)), timeout=60
        )
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert refused.value.details() == (
        "'caseworker-1' may not read run impact_analysis runs: needs a role of admin, analyst, auditor"
    )


def test_a_template_no_longer_loaded_lists_nothing_for_admin_and_is_refused_to_others(
    orchestrator: orchestrator_pb2_grpc.OrchestratorServiceStub, credentials: Credentials
) -> None:
    request = Request(template_id="retired_template")
    reply = orchestrator.ListWorkflows(request, metadata=bearer(credentials.token(Role.ADMIN)), timeout=60)
    assert list(reply.items) == [] and reply.next_cursor == ""
    with pytest.raises(grpc.RpcError) as refused:
        orchestrator.ListWorkflows(request, metadata=bearer(credentials.token(Role.CASEWORKER)), timeout=60)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_cancelled_is_a_status_the_list_filters_on(
    orchestrator: orchestrator_pb2_grpc.OrchestratorServiceStub, credentials: Credentials, seeded_runs: RunListShape
) -> None:
    request = Request(status=orchestrator_pb2.RUN_STATUS_CANCELLED, **seeded_window(seeded_runs))
    reply = orchestrator.ListWorkflows(request, metadata=bearer(credentials.token(Role.ADMIN)), timeout=60)
    assert list(reply.items) == []


def test_a_run_just_started_is_first_on_its_actors_list(
    orchestrator: orchestrator_pb2_grpc.OrchestratorServiceStub, credentials: Credentials
) -> None:
    token = credentials.issue("run-list-newest", Role.CASEWORKER)
    started = [
        orchestrator.ExecuteWorkflow(
            orchestrator_pb2.ExecuteWorkflowRequest(
                template_id="eligibility_check",
                inputs_json=f'{{"citizen_id": "CIT-00005{number:02d}", "scheme_name": "scheme_alpha"}}',
            ),
            metadata=bearer(token),
            timeout=60,
        ).instance
        for number in range(3)
    ]

    reply = orchestrator.ListWorkflows(Request(actor="run-list-newest"), metadata=bearer(token), timeout=60)

    assert [item.instance_id for item in reply.items] == [run.instance_id for run in reversed(started)]
    assert {item.status for item in reply.items} == {orchestrator_pb2.RUN_STATUS_COMPLETED}
    assert reply.next_cursor == ""


def _cursor(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "A" * 31 + "="}, "cursor"),
        ({"cursor": "A" * 10_000}, "cursor"),
        ({"cursor": "A" * 31 + "\x00"}, "cursor"),
        ({"cursor": _cursor(b"\x7f" * 24)}, "cursor"),  # a time past the year 9999
        ({"cursor": _cursor(b"\x80" + b"\x00" * 23)}, "cursor"),  # and before the year 1
        ({"limit": 501}, "limit"),
        ({"limit": -1}, "limit"),
        ({"status": 99}, "status"),
        ({"actor": "x" * 201}, "actor"),
        ({"citizen_id": "CIT\x00"}, "citizen_id"),
        ({"template_id": "t" * 65}, "template_id"),
        ({"created_after": Timestamp(seconds=2**62)}, "created_after"),
        ({"created_before": Timestamp(seconds=-(2**62))}, "created_before"),
    ],
    ids=lambda value: str(value)[:40],
)
def test_a_bad_value_is_invalid_argument_naming_its_field(
    fields: dict[str, Any],
    field: str,
    orchestrator: orchestrator_pb2_grpc.OrchestratorServiceStub,
    credentials: Credentials,
) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        orchestrator.ListWorkflows(Request(**fields), metadata=bearer(credentials.token(Role.ADMIN)), timeout=60)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details().startswith(f"{field}: ")
