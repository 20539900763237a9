"""Who may call which REST route, as one table over every route of the real app: no token is a 401 with the
Bearer challenge, each role is allowed or refused (403) exactly as the roles say, a token that proves
nothing is a 401 whatever it claims, and the published routes answer anyone.

Reading a run is judged by its template's roles: the table reads an eligibility check, an appeal and an
impact analysis, made once for the module by an admin.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.routing import Route

from civicflow.auth.principals import Role
from civicflow.settings import REPO_ROOT
from tests.support.bad_tokens import BAD_TOKENS
from tests.support.credentials import Credentials
from tests.support.eligibility_oracle import citizens_decided
from tests.support.rest_api import RestApi

CASEWORKER, ANALYST, AUDITOR, ADMIN = Role.CASEWORKER, Role.ANALYST, Role.AUDITOR, Role.ADMIN
OK, CREATED, FORBIDDEN, NOT_A_REPORT, NOT_APPEALABLE = 200, 201, 403, 409, 409


@dataclass(frozen=True)
class Runs:
    """One run of each template, and an audit log with entries in it."""

    check: str
    appeal: str
    impact: str
    failed_check: str  # an eligibility check that failed at a step: nothing to appeal
    # A scheme of the module's own: version 1 drafted by an analyst, version 2 by the tests' admin (admin-1).
    scheme: str
    # Review tasks of benefit applications the tests' caseworker submitted: one to claim, one nobody claims
    # (but a reassignment), one to decide.
    to_claim: str
    unclaimed: str
    to_decide: str


@dataclass(frozen=True)
class Row:
    """One request to a route, and the status each role gets for it (None: no token)."""

    route: str  # "METHOD /path/{param}", as the app declares it
    target: Callable[[Runs], str]  # the concrete path and query
    expected: dict[Role | None, int]
    body: Callable[[Runs], dict[str, Any]] | None = None
    name: str = ""
    # A request that would start a run: a refusal must leave no instance behind.
    starts_runs: bool = False

    @property
    def public(self) -> bool:
        return self.expected.get(None) == OK

    @property
    def id(self) -> str:
        return f"{self.route} {self.name}".strip()


def roles(*, caseworker: int, analyst: int, auditor: int, admin: int = OK) -> dict[Role | None, int]:
    """Statuses of a route that takes a token: without one, 401."""
    return {None: 401, CASEWORKER: caseworker, ANALYST: analyst, AUDITOR: auditor, ADMIN: admin}


EVERYONE = {None: OK, CASEWORKER: OK, ANALYST: OK, AUDITOR: OK, ADMIN: OK}
CASEWORK = roles(caseworker=OK, analyst=FORBIDDEN, auditor=OK)  # reading eligibility checks and appeals
ANALYSIS = roles(caseworker=FORBIDDEN, analyst=OK, auditor=OK)  # reading impact analyses
AUDIT_LOG = roles(caseworker=FORBIDDEN, analyst=FORBIDDEN, auditor=OK)
RUN_CASEWORK = roles(caseworker=OK, analyst=FORBIDDEN, auditor=FORBIDDEN)
RUN_ANALYSIS = roles(caseworker=FORBIDDEN, analyst=OK, auditor=FORBIDDEN)
READ_SCHEMES = roles(caseworker=OK, analyst=OK, auditor=OK)
DRAFT_SCHEMES = roles(caseworker=FORBIDDEN, analyst=CREATED, auditor=FORBIDDEN, admin=CREATED)
PUBLISH_SCHEMES = roles(caseworker=FORBIDDEN, analyst=FORBIDDEN, auditor=FORBIDDEN)
# Four eyes: nobody publishes a draft of their own, an admin neither.
PUBLISH_OWN_DRAFT = roles(caseworker=FORBIDDEN, analyst=FORBIDDEN, auditor=FORBIDDEN, admin=FORBIDDEN)
SCHEME_DOCUMENT = json.loads((REPO_ROOT / "schemes" / "scheme_alpha.json").read_text())["document"]

CHECK_INPUTS = {"citizen_id": "CIT-0000301", "scheme_name": "scheme_alpha"}
IMPACT_INPUTS = {"scheme_name": "scheme_alpha", "population_size": 20, "proposed_rules": {"max_income": 200000}}
APPEAL_INPUTS = {**CHECK_INPUTS, "new_data": {"income": 1000}}
READ_REVIEWS = roles(caseworker=OK, analyst=FORBIDDEN, auditor=OK)
NOBODY = roles(caseworker=FORBIDDEN, analyst=FORBIDDEN, auditor=FORBIDDEN, admin=FORBIDDEN)


def _run_reads(route: str, suffix: str) -> list[Row]:
    """A route reading one run, for a run of each template."""
    return [
        Row(route, lambda runs: f"/workflows/{runs.check}{suffix}", CASEWORK, name="eligibility_check"),
        Row(route, lambda runs: f"/workflows/{runs.appeal}{suffix}", CASEWORK, name="appeal_processing"),
        Row(route, lambda runs: f"/workflows/{runs.impact}{suffix}", ANALYSIS, name="impact_analysis"),
    ]


def _execute(template_id: str, inputs: dict[str, Any], expected: dict[Role | None, int]) -> Row:
    body = {"template_id": template_id, "inputs": inputs}
    return Row(
        "POST /workflows/execute",
        lambda runs: "/workflows/execute",
        expected,
        body=lambda runs: body,
        name=template_id,
        starts_runs=True,
    )


def _public(path: str, target: str | None = None) -> Row:
    return Row(f"GET {path}", lambda runs: target or path, EVERYONE)


ROWS = [
    _execute("eligibility_check", CHECK_INPUTS, RUN_CASEWORK),
    _execute("appeal_processing", APPEAL_INPUTS, RUN_CASEWORK),
    _execute("impact_analysis", IMPACT_INPUTS, RUN_ANALYSIS),
    _execute("benefit_application", {**CHECK_INPUTS, "citizen_id": "CIT-0000001"}, RUN_CASEWORK),
    Row(
        "POST /workflows/appeal",
        lambda runs: "/workflows/appeal",
        RUN_CASEWORK,
        lambda runs: {"original_instance_id": runs.check, "new_data": {"income": 2000}},
        starts_runs=True,
    ),
    # Whether the caller may run the appeal is decided before whether there is a decision to appeal: an
    # auditor runs nothing, and an impact analysis has no appeal template (admin alone is told why).
    Row(
        "POST /workflows/appeal",
        lambda runs: "/workflows/appeal",
        roles(caseworker=NOT_APPEALABLE, analyst=FORBIDDEN, auditor=FORBIDDEN, admin=NOT_APPEALABLE),
        lambda runs: {"original_instance_id": runs.failed_check, "new_data": {"income": 2000}},
        name="of a failed check",
    ),
    Row(
        "POST /workflows/appeal",
        lambda runs: "/workflows/appeal",
        roles(caseworker=FORBIDDEN, analyst=FORBIDDEN, auditor=FORBIDDEN, admin=NOT_APPEALABLE),
        lambda runs: {"original_instance_id": runs.impact, "new_data": {"income": 2000}},
        name="of an impact analysis",
    ),
    *_run_reads("GET /workflows/{instance_id}", ""),
    *_run_reads("GET /workflows/{instance_id}/events", "/events"),
    *_run_reads("GET /workflows/{instance_id}/audit", "/audit"),
    Row("GET /workflows/report/{instance_id}", lambda runs: f"/workflows/report/{runs.impact}", ANALYSIS),
    Row(
        "GET /workflows/report/{instance_id}/results",
        lambda runs: f"/workflows/report/{runs.impact}/results?limit=5",
        ANALYSIS,
    ),
    # Whether a reader may read the run is decided before whether it has a report.
    Row(
        "GET /workflows/report/{instance_id}",
        lambda runs: f"/workflows/report/{runs.check}",
        roles(caseworker=NOT_A_REPORT, analyst=FORBIDDEN, auditor=NOT_A_REPORT, admin=NOT_A_REPORT),
        name="of an eligibility check",
    ),
    Row("GET /templates", lambda runs: "/templates", roles(caseworker=OK, analyst=OK, auditor=OK)),
    Row(
        "GET /templates/{template_id}",
        lambda runs: "/templates/eligibility_check",
        roles(caseworker=OK, analyst=OK, auditor=OK),
    ),
    Row(
        "POST /templates/reload",
        lambda runs: "/templates/reload",
        roles(caseworker=FORBIDDEN, analyst=FORBIDDEN, auditor=FORBIDDEN),
        body=lambda runs: {},
    ),
    Row("GET /schemes/schema", lambda runs: "/schemes/schema", READ_SCHEMES),
    Row("GET /schemes", lambda runs: "/schemes", READ_SCHEMES),
    Row("GET /schemes/{scheme_name}", lambda runs: f"/schemes/{runs.scheme}", READ_SCHEMES),
    Row(
        "GET /schemes/{scheme_name}/versions/{version}",
        lambda runs: f"/schemes/{runs.scheme}/versions/1",
        READ_SCHEMES,
    ),
    Row(
        "POST /schemes/{scheme_name}/versions",
        lambda runs: f"/schemes/{runs.scheme}/versions",
        DRAFT_SCHEMES,
        body=lambda runs: SCHEME_DOCUMENT,
    ),
    Row(
        "POST /schemes/{scheme_name}/versions/{version}/publish",
        lambda runs: f"/schemes/{runs.scheme}/versions/2/publish",
        PUBLISH_OWN_DRAFT,
        body=lambda runs: {"effective_from": "2030-01-01"},
        name="of one's own draft",
    ),
    Row(
        "POST /schemes/{scheme_name}/versions/{version}/publish",
        lambda runs: f"/schemes/{runs.scheme}/versions/1/publish",
        PUBLISH_SCHEMES,
        body=lambda runs: {"effective_from": "2030-01-01"},
        name="of another's draft",
    ),
    # Every role lists runs: those of the templates it may read (an empty list for none).
    Row("GET /workflows", lambda runs: "/workflows?limit=5", roles(caseworker=OK, analyst=OK, auditor=OK)),
    Row("GET /workflows", lambda runs: "/workflows?template_id=impact_analysis", ANALYSIS, name="of impact_analysis"),
    Row("GET /workflows", lambda runs: "/workflows?template_id=appeal_processing", CASEWORK, name="of appeals"),
    Row("GET /reviews", lambda runs: "/reviews", READ_REVIEWS),
    Row("GET /reviews/{review_task_id}", lambda runs: f"/reviews/{runs.to_claim}", READ_REVIEWS),
    # Four eyes: the caseworker submitted these applications; admin may work on any other's.
    Row(
        "POST /reviews/{review_task_id}/claim",
        lambda runs: f"/reviews/{runs.to_claim}/claim",
        roles(caseworker=FORBIDDEN, analyst=FORBIDDEN, auditor=FORBIDDEN),
        body=lambda runs: {},
    ),
    Row(
        "POST /reviews/{review_task_id}/unclaim",
        lambda runs: f"/reviews/{runs.unclaimed}/unclaim",
        NOBODY,
        body=lambda runs: {},
    ),
    Row(
        "POST /reviews/{review_task_id}/reassign",
        lambda runs: f"/reviews/{runs.unclaimed}/reassign",
        roles(caseworker=FORBIDDEN, analyst=FORBIDDEN, auditor=FORBIDDEN),
        body=lambda runs: {"assignee": "caseworker-2"},
    ),
    Row(
        "POST /reviews/{review_task_id}/decide",
        lambda runs: f"/reviews/{runs.to_decide}/decide",
        NOBODY,
        body=lambda runs: {"decision": "ELIGIBLE", "justification": "Checked against the payslips on file."},
    ),
    Row("GET /audit/entries/{seq}", lambda runs: "/audit/entries/0", AUDIT_LOG),
    Row("GET /audit/entries/{seq}/proof", lambda runs: "/audit/entries/0/proof?tree_size=2", AUDIT_LOG),
    Row("GET /audit/consistency", lambda runs: "/audit/consistency?first=1&second=2", AUDIT_LOG),
    Row("GET /audit/verify", lambda runs: "/audit/verify", AUDIT_LOG),
    _public("/"),
    _public("/healthz"),
    _public("/audit/public-key"),
    _public("/audit/public-keys"),
    _public("/audit/checkpoint"),
    _public("/audit/checkpoints", "/audit/checkpoints?limit=5"),
    _public("/docs"),
    _public("/docs/oauth2-redirect"),
    _public("/redoc"),
    _public("/openapi.json"),
]
GUARDED = [row for row in ROWS if not row.public]
# One row per guarded route is enough to show what a token that proves nothing gets.
ONE_PER_GUARDED_ROUTE = list({row.route: row for row in GUARDED}.values())
# The routes the issue publishes without a token, and the pages of the interactive documentation.
PUBLISHED = {
    "GET /",
    "GET /healthz",
    "GET /audit/public-key",
    "GET /audit/public-keys",
    "GET /audit/checkpoint",
    "GET /audit/checkpoints",
    "GET /docs",
    "GET /docs/oauth2-redirect",
    "GET /redoc",
    "GET /openapi.json",
}


def app_routes(client: TestClient) -> set[str]:
    """Every route the app serves: its operations as its OpenAPI document lists them, and its documentation pages."""
    operations = {f"{method.upper()} {path}" for path, item in client.app.openapi()["paths"].items() for method in item}
    pages = {
        f"{method} {route.path}"
        for route in client.app.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }
    return operations | pages


@pytest.fixture(scope="module")
def runs(admin_api: RestApi) -> Runs:
    check = admin_api.check_eligibility("CIT-0000300", "scheme_alpha")["instance_id"]
    appeal = admin_api.appeal(check, {"income": 1000})["new_instance_id"]
    impact = admin_api.execute("impact_analysis", IMPACT_INPUTS)["instance_id"]
    failed = admin_api.execute("eligibility_check", {"citizen_id": "CIT-0000300", "scheme_name": "scheme_zeta"})
    assert failed["status"] == "failed", failed
    scheme = f"matrix_{uuid.uuid4().hex[:8]}"
    for drafter in (admin_api.as_role(ANALYST), admin_api):
        drafted = drafter.post(f"/schemes/{scheme}/versions", json=SCHEME_DOCUMENT)
        assert drafted.status_code == CREATED, drafted.text
    caseworker = admin_api.as_role(CASEWORKER)
    to_claim, unclaimed, to_decide = (
        caseworker.execute("benefit_application", {"citizen_id": citizen_id, "scheme_name": "scheme_alpha"})[
            "waiting_for"
        ]["review_task_id"]
        for citizen_id in citizens_decided("NEEDS_REVIEW", "scheme_alpha", count=3, start=1100)
    )
    return Runs(
        check=check,
        appeal=appeal,
        impact=impact,
        failed_check=failed["instance_id"],
        scheme=scheme,
        to_claim=to_claim,
        unclaimed=unclaimed,
        to_decide=to_decide,
    )


def call(api: RestApi, row: Row, runs: Runs) -> Any:
    if row.body is None:
        return api.get(row.target(runs))
    return api.post(row.target(runs), json=row.body(runs))


def test_every_route_of_the_app_has_a_row(gateway_client: TestClient) -> None:
    assert {row.route for row in ROWS} == app_routes(gateway_client)
    assert {row.route for row in ROWS if row.public} == PUBLISHED


@pytest.mark.parametrize("row", ONE_PER_GUARDED_ROUTE, ids=lambda row: row.id)
def test_without_a_token_a_guarded_route_is_401_with_the_bearer_challenge(
    row: Row, api: RestApi, runs: Runs, count_instances: Callable[[], int]
) -> None:
    before = count_instances()

    response = call(api.with_token(None), row, runs)

    error = api.error(response, 401)
    assert error["code"] == "UNAUTHENTICATED"
    assert error["message"] == "no bearer token: send 'Authorization: Bearer <token>'"
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert count_instances() == before


@pytest.mark.parametrize("row", [row for row in ROWS if row.public], ids=lambda row: row.id)
def test_a_published_route_answers_without_a_token(row: Row, api: RestApi, runs: Runs) -> None:
    response = call(api.with_token(None), row, runs)
    assert response.status_code == OK, response.text
    assert "WWW-Authenticate" not in response.headers


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.id)
def test_each_role_is_allowed_or_refused_as_the_matrix_says(
    row: Row, role: Role, api: RestApi, runs: Runs, count_instances: Callable[[], int]
) -> None:
    caller = api.as_role(role)
    before = count_instances()

    response = call(caller, row, runs)

    expected = row.expected[role]
    assert response.status_code == expected, response.text
    if expected == FORBIDDEN:
        error = api.error(response, FORBIDDEN)
        assert error["code"] == "PERMISSION_DENIED"
        assert error["message"].startswith(f"'{role}-1' may not ")
        assert "WWW-Authenticate" not in response.headers
        assert count_instances() == before
    elif row.starts_runs:
        assert count_instances() > before


@pytest.mark.parametrize("kind", BAD_TOKENS)
def test_a_token_that_proves_nothing_is_401_on_every_guarded_route(
    kind: str, api: RestApi, credentials: Credentials, runs: Runs, count_instances: Callable[[], int]
) -> None:
    caller = api.with_token(BAD_TOKENS[kind](credentials))
    before = count_instances()

    for row in ONE_PER_GUARDED_ROUTE:
        response = call(caller, row, runs)
        error = api.error(response, 401)
        assert error["code"] == "UNAUTHENTICATED", row.id
        assert response.headers["WWW-Authenticate"] == "Bearer", row.id
    assert count_instances() == before
