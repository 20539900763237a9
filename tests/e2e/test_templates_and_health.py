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


def test_a_templates_versions_are_listed_with_the_current_one_marked(api: RestApi) -> None:
    response = api.get("/templates/eligibility_check")

    assert response.status_code == 200, response.text
    body = response.json()
    current = [version for version in body["versions"] if version["current"]]
    assert body["template_id"] == "eligibility_check" and len(current) == 1
    (listed,) = [
        template for template in api.get("/templates").json() if template["template_id"] == "eligibility_check"
    ]
    assert current[0]["version"] == listed["version"] and current[0]["steps"] == listed["steps"]
    assert current[0]["source_file"] == "eligibility_check.json" and len(current[0]["digest"]) == 64
    assert api.get("/templates/no_such_template").status_code == 404
    assert api.get("/templates/Not-An-Id").status_code == 422


def test_a_reload_answers_what_loaded_and_every_problem(admin_api: RestApi) -> None:
    response = admin_api.post("/templates/reload")

    assert response.status_code == 200, response.text
    assert response.json() == {"loaded": [], "problems": []}  # the shipped templates, loaded already
