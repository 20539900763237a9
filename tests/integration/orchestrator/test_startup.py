"""The orchestrator starts whatever its template files hold: a file that does not load is logged, problem by problem."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from civicflow.auth.access import ServiceIdentity
from civicflow.auth.principals import Role
from civicflow.settings import REPO_ROOT
from civicflow.v1 import orchestrator_pb2, orchestrator_pb2_grpc
from tests.support.credentials import Credentials
from tests.support.orchestrators import OrchestratorProcess


@pytest.fixture
def process() -> Iterator[list[OrchestratorProcess]]:
    started: list[OrchestratorProcess] = []
    yield started
    for each in started:
        each.close()


def test_a_bad_template_is_logged_problem_by_problem_and_the_others_serve(
    tmp_path: Path, database_url: str, credentials: Credentials, process: list[OrchestratorProcess]
) -> None:
    for name in ("eligibility_check.json", "appeal_processing.json"):
        shutil.copy(REPO_ROOT / "templates" / name, tmp_path)
    document = json.loads((REPO_ROOT / "templates" / "eligibility_check.json").read_text())
    document["template_id"] = "broken_check"
    document["steps"][2]["task_type"] = "consult_oracle"
    document["steps"][3]["timeout_seconds"] = -1
    (tmp_path / "broken.json").write_text(json.dumps(document))

    orchestrator = OrchestratorProcess(
        DATABASE_URL=database_url,
        TEMPLATES_DIR=str(tmp_path),
        **credentials.environment(ServiceIdentity.ORCHESTRATOR),
    )
    process.append(orchestrator)

    refused = orchestrator.logged("template refused")
    assert {(line["file"], line["location"]) for line in refused} == {
        ("broken.json", "steps[2].task_type"),
        ("broken.json", "steps[3].timeout_seconds"),
    }
    assert any("unknown task_type 'consult_oracle'" in line["problem"] for line in refused)
    assert all("\n" not in line["problem"] for line in refused)
    with credentials.orchestrator_channel(orchestrator.target, role=Role.AUDITOR) as channel:
        templates = orchestrator_pb2_grpc.OrchestratorServiceStub(channel).ListTemplates(
            orchestrator_pb2.ListTemplatesRequest(), timeout=10
        )
    assert [template.template_id for template in templates.templates] == ["appeal_processing", "eligibility_check"]
