"""Which runs a caller may list: every run for admin and auditor, the runs of the templates a role may read for the
others, and a template filter the caller may not read refused as reading one of its runs is."""

from __future__ import annotations

import pytest

from civicflow.auth.access import PermissionDeniedError
from civicflow.auth.principals import Principal, Role
from civicflow.settings import REPO_ROOT
from civicflow.v1 import orchestrator_pb2
from orchestrator.runs.run_list_query import readable_templates, run_list_query
from orchestrator.tasks import TASK_CONTRACTS
from orchestrator.templates.registry import TemplateRegistry

TEMPLATES = TemplateRegistry.load_directory(REPO_ROOT / "templates", TASK_CONTRACTS)
CASEWORK = frozenset({"eligibility_check", "benefit_application", "appeal_processing"})


def person(*roles: Role) -> Principal:
    return Principal(subject="someone", roles=frozenset(roles))


@pytest.mark.parametrize(
    ("roles", "readable"),
    [
        ((Role.ADMIN,), None),
        ((Role.AUDITOR,), None),
        ((Role.CASEWORKER,), CASEWORK),
        ((Role.ANALYST,), frozenset({"impact_analysis"})),
        ((Role.CASEWORKER, Role.ANALYST), CASEWORK | {"impact_analysis"}),
        ((), frozenset()),
    ],
)
def test_the_templates_each_role_may_list(roles: tuple[Role, ...], readable: frozenset[str] | None) -> None:
    assert readable_templates(person(*roles), TEMPLATES, "") == readable


def test_a_template_filter_narrows_to_it_or_is_refused() -> None:
    assert readable_templates(person(Role.CASEWORKER), TEMPLATES, "appeal_processing") == {"appeal_processing"}
    assert readable_templates(person(Role.ADMIN), TEMPLATES, "retired_template") == {"retired_template"}
    with pytest.raises(PermissionDeniedError):
        readable_templates(person(Role.CASEWORKER), TEMPLATES, "impact_analysis")
    with pytest.raises(PermissionDeniedError):
        readable_templates(person(Role.ANALYST), TEMPLATES, "retired_template")


def test_the_request_becomes_a_query_with_the_default_page() -> None:
    request = orchestrator_pb2.ListWorkflowsRequest(
        status=orchestrator_pb2.RUN_STATUS_CANCELLED, citizen_id="CIT-0000042", actor="alice"
    )

    query = run_list_query(request, person(Role.AUDITOR), TEMPLATES)

    assert (query.limit, query.after) == (50, None)
    assert (query.runs.status, query.runs.citizen_id, query.runs.actor) == ("cancelled", "CIT-0000042", "alice")
    assert query.runs.template_ids is None and query.runs.created_after is None
