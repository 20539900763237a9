"""Templates change while the system runs: runs finish under the version they started with, new runs use the
new one, a file that does not load is refused with every problem while everything else keeps serving.

Each test has a database and audit log of this module, and replicas of its own over template directories of its
own (copies of the shipped ones) that it rewrites.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from audit_service.config import AuditSettings
from civicflow.auth.principals import Role
from civicflow.settings import REPO_ROOT
from civicflow.v1 import orchestrator_pb2
from orchestrator.config import OrchestratorSettings
from tests.support.background_loop import BackgroundLoop
from tests.support.credentials import Credentials
from tests.support.databases import set_up_database
from tests.support.eligibility_oracle import citizens_decided
from tests.support.orchestrators import replica_settings, serving, wait_until
from tests.support.review_runs import JUSTIFICATION, apply, finished, orchestrator_as, refusal
from tests.support.stacks import audit_service_on

APPLICATION = "benefit_application"
SHIPPED_VERSION = json.loads((REPO_ROOT / "templates" / f"{APPLICATION}.json").read_text())["version"]


@pytest.fixture(scope="module")
def base_settings(
    postgres_server_url: str,
    background_loop: BackgroundLoop,
    audit_settings: AuditSettings,
    orchestrator_settings: OrchestratorSettings,
) -> Iterator[OrchestratorSettings]:
    with (
        set_up_database(postgres_server_url, name_prefix="template_versions") as database,
        audit_service_on(background_loop, audit_settings, database) as audit_target,
    ):
        yield replica_settings(
            orchestrator_settings,
            database_url=database.accounts.orchestrator,
            audit_target=audit_target,
            template_reload_seconds=0.1,
        )


def _shipped_copy(directory: Path) -> Path:
    directory.mkdir()
    for path in (REPO_ROOT / "templates").glob("*.json"):
        shutil.copy(path, directory)
    return directory


def _application() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((REPO_ROOT / "templates" / f"{APPLICATION}.json").read_text())
    return document


def _without_review(version: str) -> dict[str, Any]:
    """benefit_application decided by the rules alone: NEEDS_REVIEW is its final decision."""
    document = _application()
    document["version"] = version
    document["steps"] = [step for step in document["steps"] if step.get("kind") != "switch"]
    del document["steps"][-1]["input_mapping"]["review"]
    return document


def _write(directory: Path, document: dict[str, Any] | str, name: str = f"{APPLICATION}.json") -> None:
    (directory / name).write_text(document if isinstance(document, str) else json.dumps(document))


def _versions(stub: Any) -> list[tuple[str, bool]]:
    reply = stub.GetTemplate(orchestrator_pb2.GetTemplateRequest(template_id=APPLICATION))
    return [(version.version, version.current) for version in reply.versions]


def _current(stub: Any) -> list[str]:
    return [version for version, current in _versions(stub) if current]


def test_a_run_in_flight_finishes_under_its_version_on_a_replica_that_never_loaded_it_and_new_runs_use_the_new_one(
    background_loop: BackgroundLoop, base_settings: OrchestratorSettings, credentials: Credentials, tmp_path: Path
) -> None:
    first_directory = _shipped_copy(tmp_path / "first")
    waiting_citizen, fresh_citizen = citizens_decided("NEEDS_REVIEW", "scheme_alpha", count=2, start=700)
    with serving(background_loop, replica_settings(base_settings, templates_dir=first_directory)) as first:
        submitter = orchestrator_as(credentials, first, "cw-front-desk", Role.CASEWORKER)
        waiting = apply(submitter, waiting_citizen)
        assert (waiting.status, waiting.template_version) == (orchestrator_pb2.RUN_STATUS_WAITING, SHIPPED_VERSION)

        _write(first_directory, _without_review("2.0.0"))  # no restart: the replica's watch picks it up
        wait_until(
            lambda: _versions(submitter) == [(SHIPPED_VERSION, False), ("2.0.0", True)],
            timeout=10,
            what="version 2.0.0 to become current",
        )
        fresh = apply(submitter, fresh_citizen)
        assert (fresh.status, fresh.template_version) == (orchestrator_pb2.RUN_STATUS_COMPLETED, "2.0.0")
        assert json.loads(fresh.outputs_json)["decision"]["decision"] == "NEEDS_REVIEW"

    # A replica whose directory has only 2.0.0: the run's version comes from the database.
    second_directory = tmp_path / "second"
    shutil.copytree(first_directory, second_directory)
    with serving(background_loop, replica_settings(base_settings, templates_dir=second_directory)) as second:
        reviewer = orchestrator_as(credentials, second, "cw-back-office", Role.CASEWORKER)
        task_id = waiting.waiting_for_review_task_id
        reviewer.ClaimReview(orchestrator_pb2.ClaimReviewRequest(review_task_id=task_id))
        reviewer.DecideReview(
            orchestrator_pb2.DecideReviewRequest(
                review_task_id=task_id, decision="ELIGIBLE", justification=JUSTIFICATION
            )
        )
        final = finished(reviewer, waiting.instance_id)
        assert (final.status, final.template_version) == (orchestrator_pb2.RUN_STATUS_COMPLETED, SHIPPED_VERSION), (
            final.error
        )
        decision = json.loads(final.outputs_json)["decision"]
        assert (decision["decision"], decision["reviewed_by"]) == ("ELIGIBLE", "cw-back-office")
        assert _versions(reviewer) == [(SHIPPED_VERSION, False), ("2.0.0", True)]


def test_a_broken_file_is_refused_with_every_problem_and_everything_else_keeps_serving(
    background_loop: BackgroundLoop, base_settings: OrchestratorSettings, credentials: Credentials, tmp_path: Path
) -> None:
    directory = _shipped_copy(tmp_path / "templates")
    # The watch is off: what each reload answers is the test's to see.
    settings = replica_settings(base_settings, templates_dir=directory, template_reload_seconds=0)
    broken = _application()
    broken["version"] = "3.0.0"
    broken["steps"][0]["task_type"] = "consult_oracle"
    del broken["steps"][2]["input_mapping"]["rules"]
    broken["steps"][4]["cases"]["NEEDS_REVIEW"][0]["config"]["sla_seconds"] = -1
    with serving(background_loop, settings) as target:
        admin = orchestrator_as(credentials, target, "admin-1", Role.ADMIN)
        caseworker = orchestrator_as(credentials, target, "cw-1", Role.CASEWORKER)
        _write(directory, broken)
        _write(directory, "{not json", name="scratch.json")

        reply = admin.ReloadTemplates(orchestrator_pb2.ReloadTemplatesRequest())

        assert not reply.loaded
        assert {(problem.file, problem.location) for problem in reply.problems} == {
            (f"{APPLICATION}.json", "steps[0].task_type"),
            (f"{APPLICATION}.json", "steps[2].input_mapping"),
            (f"{APPLICATION}.json", "steps[4].cases.NEEDS_REVIEW[0].config.sla_seconds"),
            ("scratch.json", "line 1 column 2"),
        }
        assert _current(caseworker) == [SHIPPED_VERSION]
        (eligible,) = citizens_decided("ELIGIBLE", "scheme_alpha", start=800)
        run = apply(caseworker, eligible)
        assert (run.status, run.template_version) == (orchestrator_pb2.RUN_STATUS_COMPLETED, SHIPPED_VERSION)
        check = caseworker.ExecuteWorkflow(
            orchestrator_pb2.ExecuteWorkflowRequest(
                template_id="eligibility_check",
                inputs_json=json.dumps({"citizen_id": eligible, "scheme_name": "scheme_alpha"}),
            )
        ).instance
        assert check.status == orchestrator_pb2.RUN_STATUS_COMPLETED

        # The same version number with other content is a problem of that file; the version in force stays.
        changed = _application()
        changed["description"] = "The same version, said otherwise."
        _write(directory, changed)
        (directory / "scratch.json").unlink()
        reply = admin.ReloadTemplates(orchestrator_pb2.ReloadTemplatesRequest())
        assert [(problem.file, problem.location) for problem in reply.problems] == [(f"{APPLICATION}.json", "version")]
        assert "give the change a new version" in reply.problems[0].message
        assert refusal(caseworker.ReloadTemplates, orchestrator_pb2.ReloadTemplatesRequest()) == (
            grpc.StatusCode.PERMISSION_DENIED
        )

    # A replica that never loaded the version is refused the other content by the database's record of it.
    with serving(background_loop, replica_settings(settings)) as target:
        admin = orchestrator_as(credentials, target, "admin-1", Role.ADMIN)
        reply = admin.ReloadTemplates(orchestrator_pb2.ReloadTemplatesRequest())
        assert [(problem.file, problem.location) for problem in reply.problems] == [(f"{APPLICATION}.json", "version")]
        assert "already recorded with other content" in reply.problems[0].message
        assert SHIPPED_VERSION in dict(_versions(admin)) and _current(admin) == []
