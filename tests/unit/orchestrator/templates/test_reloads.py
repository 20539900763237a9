"""A template directory read again: new versions become current, a refused file keeps its previous version,
and problems across files belong to the file concerned."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from civicflow.auth.access import PermissionDeniedError
from civicflow.auth.principals import Principal, Role
from civicflow.settings import REPO_ROOT
from orchestrator.errors import TemplateNotFoundError
from orchestrator.impact.admission import ImpactAdmission
from orchestrator.storage.impact_queue import ImpactQueue, QueueLimits
from orchestrator.tasks import TASK_CONTRACTS
from orchestrator.templates.registry import TemplateRegistry

SHIPPED = REPO_ROOT / "templates"
LIMITS = QueueLimits(max_running=1, max_per_subject=1, retry_after_seconds=1)


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    for path in SHIPPED.glob("*.json"):
        shutil.copy(path, tmp_path)
    return tmp_path


def _document(shipped: str, **changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((SHIPPED / f"{shipped}.json").read_text())
    return {**document, **changes}


def _write(directory: Path, name: str, document: dict[str, Any] | str) -> None:
    (directory / name).write_text(document if isinstance(document, str) else json.dumps(document))


def _registry(directory: Path) -> TemplateRegistry:
    registry = TemplateRegistry(directory, TASK_CONTRACTS)
    assert not registry.reload().problems
    return registry


def test_a_new_version_becomes_current_and_the_old_one_stays_for_the_runs_pinned_to_it(directory: Path) -> None:
    registry = _registry(directory)
    old = registry.get("eligibility_check")
    _write(directory, "eligibility_check.json", _document("eligibility_check", version="2.0.0"))

    outcome = registry.reload()

    assert [(entry.template.template_id, entry.template.version) for entry in outcome.loaded] == [
        ("eligibility_check", "2.0.0")
    ]
    assert registry.get("eligibility_check").version == "2.0.0"
    assert registry.version("eligibility_check", old.version) is old
    assert [(entry.template.version, entry.current) for entry in registry.versions("eligibility_check")] == [
        (old.version, False),
        ("2.0.0", True),
    ]


def test_a_file_that_breaks_leaves_its_previous_version_current_and_says_so_once(
    directory: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registry = _registry(directory)
    before = registry.get("eligibility_check")
    _write(directory, "eligibility_check.json", "{")

    first, second = registry.reload(), registry.reload()

    assert [problem.file for problem in first.problems] == ["eligibility_check.json"]
    assert not second.problems  # nothing changed since: not logged again
    assert [problem.file for problem in registry.reload(every_problem=True).problems] == ["eligibility_check.json"]
    assert registry.get("eligibility_check") is before
    assert len([record for record in caplog.records if record.getMessage() == "template refused"]) == 1


def test_the_same_version_with_other_content_is_refused(directory: Path) -> None:
    registry = _registry(directory)
    _write(directory, "eligibility_check.json", _document("eligibility_check", description="Other words."))

    (problem,) = registry.reload().problems

    assert (problem.file, problem.location) == ("eligibility_check.json", "version")
    assert "give the change a new version" in problem.message


def test_a_template_id_in_a_second_file_is_a_problem_of_that_file_only(directory: Path) -> None:
    registry = _registry(directory)
    _write(directory, "copy.json", _document("eligibility_check", version="9.9.9"))

    (problem,) = registry.reload().problems

    assert (problem.file, problem.location) == ("copy.json", "template_id")
    assert "already defined in eligibility_check.json" in problem.message
    assert registry.get("eligibility_check").version != "9.9.9"


def test_an_appeal_template_that_is_not_loaded_refuses_the_file_naming_it(directory: Path) -> None:
    (directory / "appeal_processing.json").unlink()
    registry = TemplateRegistry(directory, TASK_CONTRACTS)

    problems = registry.reload().problems

    assert {(problem.file, problem.location) for problem in problems} == {
        ("eligibility_check.json", "appeal_template"),
        ("benefit_application.json", "appeal_template"),
    }
    assert [template.template_id for template in registry] == ["impact_analysis"]
    shutil.copy(SHIPPED / "appeal_processing.json", directory)
    assert not registry.reload().problems  # the files refused for it are checked again, and load
    assert len(list(registry)) == 4


def test_a_deleted_file_withdraws_its_template_from_new_runs_but_not_from_runs_pinned_to_it(directory: Path) -> None:
    registry = _registry(directory)
    impact = registry.get("impact_analysis")
    (directory / "impact_analysis.json").unlink()

    registry.reload()

    with pytest.raises(TemplateNotFoundError):
        registry.get("impact_analysis")
    assert registry.version("impact_analysis", impact.version) is impact


def test_a_version_never_loaded_is_not_found_without_a_store(directory: Path) -> None:
    with pytest.raises(TemplateNotFoundError, match="version"):
        _registry(directory).version("eligibility_check", "0.0.1")


def test_an_analysis_loaded_at_run_time_is_admitted_through_the_queue_and_its_limits(directory: Path) -> None:
    registry = _registry(directory)
    queue = ImpactQueue(sa.create_engine("postgresql://nowhere/none"), templates=["impact_analysis"], limits=LIMITS)
    admission = ImpactAdmission(
        queue=queue,
        templates=frozenset({"impact_analysis"}),
        owner="replica",
        lease_seconds=10,
        poll_seconds=1,
        population_limits={Role.ANALYST: 1_000},
    )
    registry.on_change.append(admission.track)
    _write(directory, "big_impact.json", _document("impact_analysis", template_id="big_impact"))

    registry.reload()

    assert admission.controls("big_impact") and admission.controls("impact_analysis")
    with pytest.raises(PermissionDeniedError):
        admission.authorize_population(
            Principal(subject="bob", roles=frozenset({Role.ANALYST})),
            registry.get("big_impact"),
            {"scheme_name": "scheme_alpha", "population_size": 5_000},
        )
