"""Template listing and the health report of the whole stack."""

from __future__ import annotations

from tests.support.rest_api import RestApi


def test_templates_lists_the_four_workflows(api: RestApi) -> None:
    response = api.get("/templates")

    assert response.status_code == 200, response.text
    templates = {template["template_id"]: template for template in response.json()}
    assert set(templates) == {"eligibility_check", "benefit_application", "impact_analysis", "appeal_processing"}
    for template in templates.values():
        assert template["version"] and template["description"]
        assert template["input_schema"]["type"] == "object"
        assert template["steps"]
    assert templates["eligibility_check"]["steps"] == [
        "fetch_citizen",
        "fetch_scheme_rules",
        "evaluate_rules",
        "make_decision",
    ]
    assert set(templates["eligibility_check"]["input_schema"]["required"]) == {"citizen_id", "scheme_name"}
    # Nested steps are listed in document order: the switch, its case's review, then what follows it.
    assert templates["benefit_application"]["steps"][4:] == [
        "route_by_recommendation",
        "caseworker_review",
        "record_final_decision",
    ]


def test_healthz_reports_every_service_serving(api: RestApi) -> None:
    response = api.get("/healthz")

    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "ok",
        "services": {
            "gateway": "SERVING",
            "orchestrator": "SERVING",
            "evaluator": "SERVING",
            "audit_service": "SERVING",
        },
    }
