"""The task types as docs/templates.md lists them: a Markdown table made from the contracts themselves.

`python -m orchestrator.tasks.catalogue` prints it; a test fails when the docs' copy differs, so the
table cannot fall behind a contract.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import Enum
from typing import Any, get_args

from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from orchestrator.tasks.contract import TaskContract
from orchestrator.tasks.switch import SWITCH_TASK

HEADER = "| task type | required inputs | optional inputs | outputs | config |\n|---|---|---|---|---|"


def task_table(contracts: Mapping[str, TaskContract]) -> str:
    """One row per task type a template step may name (the switch task runs switch steps, and is left out)."""
    rows = [
        "| `{}` | {} | {} | {} | {} |".format(
            contract.task_type,
            _names(contract.required_inputs),
            _names(contract.optional_inputs),
            _names(contract.outputs),
            _config(contract.config_model)
            + ("; fans out (may declare `tolerated_failures`)" if contract.fans_out else ""),
        )
        for name, contract in sorted(contracts.items())
        if contract is not SWITCH_TASK
    ]
    return "\n".join([HEADER, *rows])


def _names(names: frozenset[str]) -> str:
    return ", ".join(f"`{name}`" for name in sorted(names)) or "—"


def _config(model: type[BaseModel]) -> str:
    fields = []
    for name, info in model.model_fields.items():
        bounds = [_bound(constraint) for constraint in info.metadata]
        described = ", ".join([_kind(info.annotation), *(bound for bound in bounds if bound)])
        default = "required" if info.default is PydanticUndefined else f"default `{json.dumps(info.default)}`"
        fields.append(f"`{name}` ({described}; {default})")
    return "<br>".join(fields) or "none"


def _kind(annotation: Any) -> str:
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return "one of " + ", ".join(f"`{member.value}`" for member in annotation)
    names = {bool: "boolean", int: "integer", float: "number", str: "text", type(None): "null"}
    if isinstance(annotation, type):
        return names.get(annotation, annotation.__name__)
    # A union (float | None): its members' names, without the "|" a Markdown table would split on.
    return " or ".join(names.get(member, getattr(member, "__name__", str(member))) for member in get_args(annotation))


def _bound(constraint: object) -> str:
    match constraint:
        case Ge(ge=value):
            return f">= {value}"
        case Gt(gt=value):
            return f"> {value}"
        case Le(le=value):
            return f"<= {value}"
        case Lt(lt=value):
            return f"< {value}"
    return ""


if __name__ == "__main__":
    from orchestrator.tasks import TASK_CONTRACTS

    print(task_table(TASK_CONTRACTS))
