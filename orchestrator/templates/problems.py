"""What is wrong with a template file: each problem named by file, location and message, all of them at once.

A file is checked in stages (JSON, the template's shape, each step against its task type, the data
flow between steps); a stage that cannot start without the one before (no shape without JSON) is
skipped, but within a stage every problem is collected, so a file's mistakes come in one answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError

# Tags of the step union (model.py's AnyStep): pydantic puts them in an error's location after the index.
_STEP_TAGS = frozenset({"task", "switch"})


@dataclass(frozen=True)
class TemplateProblem:
    """One thing wrong with a template file; `location` is empty for the file as a whole."""

    file: str
    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.location}: {self.message}" if self.location else f"{self.file}: {self.message}"


def location_of(parts: Sequence[str | int], *, within: str = "") -> str:
    """("steps", 2, "task", "config") -> "steps[2].config": indices in brackets, the step union's tags left out."""
    text = within
    previous: str | int | None = None
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif not (isinstance(previous, int) and part in _STEP_TAGS):
            text += f".{part}" if text else str(part)
        previous = part
    return text


def validation_problems(
    file: str, error: ValidationError, *, within: str = "", step: str = ""
) -> list[TemplateProblem]:
    """Every error pydantic found, each a problem at its own location (under `within`)."""
    prefix = f"step '{step}': " if step else ""
    return [
        TemplateProblem(file, location_of(problem["loc"], within=within), prefix + problem["msg"])
        for problem in error.errors(include_url=False)
    ]


def problems_text(problems: Sequence[TemplateProblem]) -> str:
    """Problems one per line, for an exception's message or a terminal."""
    return "\n".join(str(problem) for problem in problems)
