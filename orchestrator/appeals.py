"""Appeals: re-decide a completed decision with new data (`new_data`), as a new run linked to the original."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

from civicflow.auth.access import Action, authorize
from civicflow.auth.principals import Principal
from civicflow.grpc_errors import FieldProblem
from orchestrator.errors import InputValidationError, InvalidRequestError, NotAppealableError
from orchestrator.runs import idempotency
from orchestrator.runs.replica import Replica
from orchestrator.storage.appeal_records import AppealRecord, AppealStore
from orchestrator.storage.instance_records import COMPLETED, InstanceRecord
from orchestrator.templates.registry import LoadedTemplate, TemplateRegistry

# The appeal template's input holding the corrections, named as the request's field (REST and gRPC).
NEW_DATA_INPUT = "new_data"
# What appeals made before the input was renamed stored their corrections under; read when appealing them again.
_EARLIER_NAME = "evidence"
# The appeal template's inputs pinning the rules it re-decides under: a version, or for a decision made before
# versions existed, the date whose version in force decides it. Set by the desk from the original, never carried.
SCHEME_VERSION_INPUT = "scheme_version"
AS_OF_INPUT = "as_of"
_PINS = (SCHEME_VERSION_INPUT, AS_OF_INPUT)


@dataclass(frozen=True)
class AppealResult:
    appeal: AppealRecord
    new_instance: InstanceRecord


class AppealDesk:
    def __init__(self, *, templates: TemplateRegistry, appeals: AppealStore, replica: Replica) -> None:
        self._templates = templates
        self._appeals = appeals
        self._replica = replica

    async def submit(
        self,
        original_instance_id: uuid.UUID,
        new_data: Any,
        *,
        principal: Principal,
        idempotency_key: str | None = None,
    ) -> AppealResult:
        """Runs the original template's appeal template on the original inputs with the new data merged in.

        Corrections accumulate along a chain of appeals: an appeal of an appeal keeps
        the earlier corrections and lets the new data override them. The
        original instance is only read, never written. A repeated request with the
        same idempotency key answers the appeal the first one made. The principal must
        be allowed to read the original run and to run the appeal template.
        """
        if not isinstance(new_data, dict):
            raise InvalidRequestError("new_data: must be a JSON object")
        original = await self._replica.current(original_instance_id)
        authorize(
            principal,
            Action.READ_RUN,
            template_roles=self._templates.roles_of(original.template_id),
            what=f"{original.template_id} runs",
        )
        # In a worker thread: a version this replica never loaded is read from the database (and kept, so the
        # lookups below are from memory).
        await asyncio.to_thread(self._started_with, original)
        # Who may run the appeal is decided before whether there is a decision to appeal, so that a caller who
        # may not (an auditor; anyone but an admin for a template without an appeal template) is refused as such.
        appeal_template_id = self._started_with(original).model.appeal_template
        authorize(
            principal,
            Action.RUN_WORKFLOW,
            template_roles=self._templates.roles_of(appeal_template_id) if appeal_template_id else frozenset(),
            what=appeal_template_id or f"appeals of {original.template_id}",
        )
        original_decision = self._decision_of(original)
        appeal_template = self._templates.get(self._appeal_template_id(original))
        earlier = original.inputs.get(NEW_DATA_INPUT) or original.inputs.get(_EARLIER_NAME) or {}
        carried = (NEW_DATA_INPUT, _EARLIER_NAME, *_PINS)
        inputs = {key: value for key, value in original.inputs.items() if key not in carried}
        inputs[NEW_DATA_INPUT] = {**earlier, **new_data}
        pin = rules_pin(original, decision_output=self._started_with(original).model.decision_output)
        # An appeal template that cannot be pinned (one without these inputs) decides under today's rules.
        declared = appeal_template.model.input_schema.get("properties", {})
        inputs.update({name: value for name, value in pin.items() if name in declared})
        request_hash = None
        if idempotency_key is not None:
            # Hashed under the name fingerprints were stored with, so a retry across the rename is the same request.
            request_hash = idempotency.fingerprint(
                "appeal", original_instance_id=str(original_instance_id), **{_EARLIER_NAME: new_data}
            )
        started = await self._replica.submit(
            appeal_template,
            _prepared(appeal_template, inputs),
            appealed_instance_id=original.instance_id,
            actor=principal.subject,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
        )
        new_instance = await self._replica.wait(started.instance_id)
        new_decision = self._decision_of(new_instance) if new_instance.status == COMPLETED else None
        if new_decision is None:
            outcome = "run_failed"
        elif new_decision == original_decision:
            outcome = "decision_upheld"
        else:
            outcome = "decision_changed"
        appeal = AppealRecord(
            appeal_id=uuid.uuid4(),
            original_instance_id=original.instance_id,
            new_instance_id=new_instance.instance_id,
            new_data=new_data,
            original_decision=original_decision,
            new_decision=new_decision,
            outcome=outcome,
        )
        # Recorded once per run: a repeated request gets the appeal (and appeal_id) stored first.
        stored = await asyncio.to_thread(self._appeals.record_appeal, appeal)
        return AppealResult(appeal=stored, new_instance=new_instance)

    def _started_with(self, instance: InstanceRecord) -> LoadedTemplate:
        """The template version the run was made under: what it decided, and which template hears its appeal."""
        return self._templates.version(instance.template_id, instance.template_version)

    def _appeal_template_id(self, instance: InstanceRecord) -> str:
        template = self._started_with(instance)
        if template.model.appeal_template is None:
            raise NotAppealableError(
                f"instance {instance.instance_id} is a {instance.template_id} run, which cannot be appealed"
            )
        return template.model.appeal_template

    def _decision_of(self, instance: InstanceRecord) -> str:
        if instance.status != COMPLETED:
            raise NotAppealableError(
                f"instance {instance.instance_id} is {instance.status}; only a completed decision can be appealed"
            )
        path = self._started_with(instance).model.decision_output
        value = _at(instance.outputs, (path or "").split("."))
        if path is None or not isinstance(value, str):
            raise NotAppealableError(
                f"instance {instance.instance_id} ({instance.template_id}) made no decision to appeal"
            )
        return value


# The version the schemes' fixed rules became (schemes/*.json): what every decision made before versions was made under.
RULES_BEFORE_VERSIONS = 1


def rules_pin(original: InstanceRecord, *, decision_output: str | None) -> dict[str, Any]:
    """The appeal run's inputs that make it decide under the version the original did, whatever is published since.

    The version sits beside the decision (`decision.scheme_version` for `decision.decision`). A
    decision made before versions existed has none: it was made under the fixed rules that
    became each scheme's version 1, so the appeal asks for version 1. A date would not do: a
    version published later may be in force from a date before the decision's.
    """
    version = _at(original.outputs, [*(decision_output or "").split(".")[:-1], SCHEME_VERSION_INPUT])
    if isinstance(version, int) and not isinstance(version, bool):
        return {SCHEME_VERSION_INPUT: version}
    return {SCHEME_VERSION_INPUT: RULES_BEFORE_VERSIONS}


def _at(outputs: Any, parts: list[str]) -> Any:
    """The value at a dotted path of a run's outputs; None where the path leads nowhere."""
    value = outputs
    for part in parts:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _prepared(template: LoadedTemplate, inputs: dict[str, Any]) -> dict[str, Any]:
    """The appeal run's inputs; a problem with the new data is named as the request's field, `new_data.<key>`."""
    try:
        return template.prepare_inputs(inputs)
    except InputValidationError as error:
        prefix = f"inputs.{NEW_DATA_INPUT}"
        raise InputValidationError(
            [
                FieldProblem(NEW_DATA_INPUT + problem.field.removeprefix(prefix), problem.problem)
                if problem.field == prefix or problem.field.startswith(prefix + ".")
                else problem
                for problem in error.problems
            ]
        ) from None
