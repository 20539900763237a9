"""The task that finds the rules a run decides under: the scheme version in force on a date, or one named version."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import UTC, date
from typing import Any

from pydantic import BaseModel, ConfigDict

from civicflow.input_limits import shown
from orchestrator.errors import InvalidRequestError, SchemeNotFoundError, StepFailedError
from orchestrator.schemes.model import DRAFT, parse_date
from orchestrator.schemes.service import SchemeService
from orchestrator.tasks.contract import Task, TaskContext, TaskContract


class SchemeRulesConfig(BaseModel):
    """`drafts`: whether `scheme_version` may name a draft (an impact analysis of a proposal), not only a published
    version (a decision). `named_only`: whether the step fetches nothing unless a version is named."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    drafts: bool = False
    # Whether only a named `scheme_version` is fetched: without one the step gives {"rules": null}. For a step
    # that fetches a proposal, which a run may not name, rather than the version in force.
    named_only: bool = False


async def fetch_scheme_rules(
    inputs: Mapping[str, Any], config: SchemeRulesConfig, context: TaskContext, *, schemes: SchemeService
) -> dict[str, Any]:
    """{"rules": R}: `scheme_version` exactly if given (as_of ignored), else the version in force on `as_of`.

    `as_of` defaults to the day (UTC) the run was submitted, not the day this step happens to run:
    a run resumed after midnight decides as it would have. R names the version (SchemeVersion.rules).
    """
    name = inputs["scheme_name"]
    number = inputs.get("scheme_version")
    if number is not None:
        try:
            version = await schemes.version(name, number) if _is_version(number) else None
        except SchemeNotFoundError:
            version = None
        if version is None:
            await _refuse_unknown(schemes, name)
            raise StepFailedError(f"scheme '{name}' has no version {number!r}")
        if version.status == DRAFT and not config.drafts:
            raise StepFailedError(
                f"{version.label} is a draft, not published: this step decides under published versions only"
            )
        return {"rules": version.rules()}
    if config.named_only:
        return {"rules": None}
    as_of = _as_of(inputs.get("as_of")) or _submitted_on(context) or schemes.today()
    in_force = await schemes.in_force(name, as_of)
    if in_force is None:
        await _refuse_unknown(schemes, name)
        raise StepFailedError(f"no version of scheme '{name}' is in force on {as_of.isoformat()}")
    return {"rules": in_force.rules()}


async def _refuse_unknown(schemes: SchemeService, name: Any) -> None:
    """StepFailedError naming the known schemes if `name` is not one; only asked once a lookup found nothing."""
    known = await schemes.scheme_names()
    if name not in known:
        listed = ", ".join(known) or "none"
        raise StepFailedError(f"unknown scheme {shown(str(name))} (known schemes: {listed})")


def _submitted_on(context: TaskContext) -> date | None:
    return context.run_created_at.astimezone(UTC).date() if context.run_created_at else None


def _is_version(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value < 2**31


def _as_of(value: Any) -> date | None:
    if value is None:
        return None
    try:
        return parse_date(value if isinstance(value, str) else repr(value), field="as_of")
    except InvalidRequestError:
        raise StepFailedError(f"as_of {shown(str(value))} is not a date YYYY-MM-DD") from None


FETCH_SCHEME_RULES = TaskContract(
    task_type="fetch_scheme_rules",
    required_inputs=frozenset({"scheme_name"}),
    optional_inputs=frozenset({"as_of", "scheme_version"}),
    outputs=frozenset({"rules"}),
    config_model=SchemeRulesConfig,
    pure=True,
)

CONTRACTS = (FETCH_SCHEME_RULES,)


def tasks(*, schemes: SchemeService) -> tuple[Task, ...]:
    return (Task(FETCH_SCHEME_RULES, functools.partial(fetch_scheme_rules, schemes=schemes)),)
