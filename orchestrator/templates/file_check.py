"""Template files checked offline, as `civicflow templates validate` does: no server, the checks of a reload.

Across files, a file is checked against the files given with it and the other *.json files of its
directory (the directory it will be loaded from): a template_id given twice, an appeal_template that
names no template there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from orchestrator.tasks.contract import TaskContract
from orchestrator.templates.compiler import compile_file, read_document
from orchestrator.templates.loaded import LoadedTemplate
from orchestrator.templates.problems import TemplateProblem


def check_files(paths: Iterable[Path], contracts: Mapping[str, TaskContract]) -> list[TemplateProblem]:
    """Every problem of every file, in the order the files were given; [] when all would load."""
    problems: list[TemplateProblem] = []
    loaded: list[tuple[Path, LoadedTemplate]] = []
    given = list(paths)
    for path in given:
        result = compile_file(path, contracts=contracts)
        problems.extend(result.problems)
        if result.template is not None:
            loaded.append((path, result.template))
    owners: dict[str, Path] = {}
    for path, template in loaded:
        owner = owners.setdefault(template.template_id, path)
        if owner == path:
            owner = _neighbours(path, given).get(template.template_id, path)
        if owner != path:
            message = f"template_id '{template.template_id}' is already defined in {owner}"
            problems.append(TemplateProblem(str(path), "template_id", message))
    for path, template in loaded:
        appeal = template.model.appeal_template
        if appeal is not None and appeal not in owners and appeal not in _neighbours(path, given):
            problems.append(
                TemplateProblem(
                    str(path), "appeal_template", f"no template '{appeal}' among these files or in {path.parent}"
                )
            )
    return problems


def _neighbours(path: Path, given: list[Path]) -> dict[str, Path]:
    """The template ids of the other files in the file's directory (as they say; their own problems aside)."""
    ids: dict[str, Path] = {}
    resolved = {each.resolve() for each in given}
    for other in sorted(path.parent.glob("*.json")):
        if other.resolve() in resolved:
            continue
        document, _ = read_document(other)
        if isinstance(document, dict) and isinstance(document.get("template_id"), str):
            ids.setdefault(document["template_id"], other)
    return ids
