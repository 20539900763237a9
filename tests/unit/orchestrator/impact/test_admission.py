"""Which runs are impact analyses, the population each would cover, and whether a caller's roles allow it."""

from __future__ import annotations

import pytest

from civicflow.auth.access import PermissionDeniedError, authorize_population
from civicflow.auth.principals import Principal, Role
from civicflow.settings import REPO_ROOT
from orchestrator.impact.admission import impact_templates, is_impact_analysis, population_size
from orchestrator.tasks import TASK_CONTRACTS
from orchestrator.templates.registry import TemplateRegistry

LIMITS = {Role.ANALYST: 1_000, Role.ADMIN: 1_000_000}


@pytest.fixture(scope="module")
def templates() -> TemplateRegistry:
    return TemplateRegistry.load_directory(REPO_ROOT / "templates", TASK_CONTRACTS)


def test_only_the_template_that_fans_out_is_an_impact_analysis(templates: TemplateRegistry) -> None:
    assert impact_templates(templates) == {"impact_analysis"}
    assert not is_impact_analysis(templates.get("eligibility_check"))


def test_the_population_is_read_from_the_prepared_inputs_with_the_schemas_default(templates: TemplateRegistry) -> None:
    impact = templates.get("impact_analysis")
    assert population_size(impact, impact.prepare_inputs({"scheme_name": "scheme_alpha"})) == 500
    inputs = impact.prepare_inputs({"scheme_name": "scheme_alpha", "population_size": 1_000_000})
    assert population_size(impact, inputs) == 1_000_000
    check = templates.get("eligibility_check")
    assert population_size(check, {"citizen_id": "CIT-0000001", "scheme_name": "scheme_alpha"}) is None


@pytest.mark.parametrize(
    ("roles", "size", "allowed"),
    [
        ({Role.ANALYST}, 1_000, True),
        ({Role.ANALYST}, 1_001, False),
        ({Role.ADMIN}, 1_000_000, True),
        ({Role.ADMIN}, 1_000_001, False),
        ({Role.ANALYST, Role.ADMIN}, 5_000, True),  # the largest of the caller's limits counts
        ({Role.CASEWORKER}, 1, False),  # a role the table does not name may analyse none
        (set(), 1, False),
    ],
)
def test_the_population_limit_of_the_callers_roles_decides(roles: set[Role], size: int, allowed: bool) -> None:
    principal = Principal(subject="someone", roles=frozenset(roles))
    if allowed:
        authorize_population(principal, size, LIMITS)
        return
    with pytest.raises(PermissionDeniedError, match=f"may not analyse a population of {size}"):
        authorize_population(principal, size, LIMITS)
