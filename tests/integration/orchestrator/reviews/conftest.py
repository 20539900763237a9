"""A system of the review tests' own: short claims, a short SLA and a fast sweep on a database of their own."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from audit_service.config import AuditSettings
from civicflow.settings import REPO_ROOT
from orchestrator.config import OrchestratorSettings
from tests.support.background_loop import BackgroundLoop
from tests.support.stacks import OwnStack, own_stack

CLAIM_SECONDS = 1.0
SLA_SECONDS = 3


@pytest.fixture(scope="module")
def hurried_templates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped templates, benefit_application with an SLA of a few seconds."""
    directory = tmp_path_factory.mktemp("templates")
    for path in (REPO_ROOT / "templates").glob("*.json"):
        shutil.copy(path, directory)
    application = json.loads((directory / "benefit_application.json").read_text())
    for step in application["steps"]:
        for branch in step.get("cases", {}).values():
            for nested in branch:
                nested["config"]["sla_seconds"] = SLA_SECONDS
    (directory / "benefit_application.json").write_text(json.dumps(application))
    return directory


@pytest.fixture(scope="module")
def hurried_stack(
    postgres_server_url: str,
    background_loop: BackgroundLoop,
    audit_settings: AuditSettings,
    orchestrator_settings: OrchestratorSettings,
    hurried_templates: Path,
) -> Iterator[OwnStack]:
    with own_stack(
        postgres_server_url,
        background_loop,
        audit_settings=audit_settings,
        orchestrator_settings=orchestrator_settings,
        name_prefix="reviews",
        templates_dir=hurried_templates,
        review_claim_seconds=CLAIM_SECONDS,
        review_sweep_seconds=0.1,
    ) as stack:
        yield stack
