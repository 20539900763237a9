"""`civicflow templates validate FILE...`: offline, the orchestrator's checks, every problem, exit 0 / 1 / 2."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from civicflow.settings import REPO_ROOT

SHIPPED = REPO_ROOT / "templates"


def _validate(*arguments: str | Path, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    # A process of its own, with no gateway anywhere: --url points at a port nothing listens on.
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "civicflow_cli",
            "--url",
            "http://127.0.0.1:9",
            "templates",
            "validate",
            *map(str, arguments),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


def _document(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((SHIPPED / f"{name}.json").read_text())
    return document


def test_the_shipped_templates_are_valid() -> None:
    finished = _validate(*sorted(SHIPPED.glob("*.json")))
    assert (finished.returncode, finished.stdout) == (0, "4 file(s) valid\n"), finished.stderr


def test_every_problem_of_every_file_is_printed_as_file_location_message_and_the_status_is_1(tmp_path: Path) -> None:
    shutil.copy(SHIPPED / "appeal_processing.json", tmp_path)
    broken = _document("eligibility_check")
    broken["steps"][1]["task_type"] = "consult_oracle"
    broken["steps"][2]["timeout_seconds"] = "soon"
    (tmp_path / "check.json").write_text(json.dumps(broken))
    (tmp_path / "typo.json").write_text('{"template_id": "x",}')
    orphan = _document("benefit_application")
    orphan["appeal_template"] = "no_such_appeal"
    (tmp_path / "orphan.json").write_text(json.dumps(orphan))

    finished = _validate("check.json", "typo.json", "orphan.json", cwd=tmp_path)

    assert finished.returncode == 1
    lines = finished.stdout.splitlines()
    assert [line.split(": ")[:2] for line in lines] == [
        ["check.json", "steps[2].timeout_seconds"],
        ["check.json", "steps[1].task_type"],
        ["typo.json", "line 1 column 21"],
        ["orphan.json", "appeal_template"],
    ]
    assert "unknown task_type 'consult_oracle'" in lines[1]


def test_an_appeal_template_in_the_files_directory_is_found_there(tmp_path: Path) -> None:
    for name in ("eligibility_check", "appeal_processing"):
        shutil.copy(SHIPPED / f"{name}.json", tmp_path)
    assert _validate(tmp_path / "eligibility_check.json").returncode == 0


def test_a_template_id_another_file_of_the_directory_defines_is_refused_as_a_reload_would(tmp_path: Path) -> None:
    shutil.copy(SHIPPED / "appeal_processing.json", tmp_path)
    shutil.copy(SHIPPED / "appeal_processing.json", tmp_path / "zz_copy.json")

    finished = _validate(tmp_path / "zz_copy.json")

    assert finished.returncode == 1
    assert finished.stdout.splitlines() == [
        f"{tmp_path / 'zz_copy.json'}: template_id: template_id 'appeal_processing' is already defined in"
        f" {tmp_path / 'appeal_processing.json'}"
    ]


@pytest.mark.parametrize("arguments", [(), ("--no-such-option", "x.json")])
def test_a_malformed_command_line_is_a_usage_error(arguments: tuple[str, ...]) -> None:
    finished = _validate(*arguments)
    assert finished.returncode == 2 and "usage:" in finished.stderr
