"""Who may do what: the one function every REST route and every RPC goes through, and the table it reads.

People act through roles. Some actions are granted outright (GRANTS); the rest also depend on the
workflow template the action concerns: running a template takes one of its `allowed_roles`, and
reading a run takes one of its template's roles or a reader's role. admin may do everything;
auditor reads everything and runs nothing. How many citizens one impact analysis may cover is
decided per role too (authorize_population), from a table the deployment sets.

Services act through the identity in their TLS certificate, and call only the RPCs of other
services that SERVICE_RULES lists for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from civicflow.auth.principals import Principal, Role


class Action(StrEnum):
    LIST_TEMPLATES = "list_templates"
    RUN_WORKFLOW = "run_workflow"  # and the template's allowed_roles
    READ_RUN = "read_run"  # an instance, its audit trail, its report and results; and the template's roles
    READ_AUDIT_LOG = "read_audit_log"  # entries, proofs, checkpoints and verification of the whole log
    READ_SCHEMES = "read_schemes"  # schemes, their versions and documents, and the document schema
    DRAFT_SCHEME_VERSION = "draft_scheme_version"  # a new version of a scheme (a new scheme too), as a draft
    PUBLISH_SCHEME_VERSION = "publish_scheme_version"  # a draft, from a date: never by the subject who drafted it
    READ_REVIEWS = "read_reviews"  # the review queue and its tasks
    WORK_REVIEWS = "work_reviews"  # claim, unclaim and decide a task: also its candidate role, never the submitter
    REASSIGN_REVIEWS = "reassign_reviews"  # give a task to another subject (never the submitter)
    CANCEL_RUN = "cancel_run"  # stop a running, queued or waiting run; also the subject who started it
    RETRY_RUN = "retry_run"  # a new run of a failed or cancelled one; and the template's allowed_roles
    RELOAD_TEMPLATES = "reload_templates"  # read the template directory again now


class PermissionDeniedError(Exception):
    """A verified caller whose roles do not allow the action (403, PERMISSION_DENIED)."""


_EVERYONE = frozenset(Role)

# Roles that may take each action whatever the template; TEMPLATE_SCOPED actions also admit the template's roles.
GRANTS: dict[Action, frozenset[Role]] = {
    Action.LIST_TEMPLATES: _EVERYONE,
    Action.RUN_WORKFLOW: frozenset({Role.ADMIN}),
    Action.READ_RUN: frozenset({Role.ADMIN, Role.AUDITOR}),
    Action.READ_AUDIT_LOG: frozenset({Role.ADMIN, Role.AUDITOR}),
    Action.READ_SCHEMES: _EVERYONE,
    Action.DRAFT_SCHEME_VERSION: frozenset({Role.ANALYST, Role.ADMIN}),
    Action.PUBLISH_SCHEME_VERSION: frozenset({Role.ADMIN}),
    Action.READ_REVIEWS: frozenset({Role.CASEWORKER, Role.ADMIN, Role.AUDITOR}),
    Action.WORK_REVIEWS: frozenset({Role.CASEWORKER, Role.ADMIN}),
    Action.REASSIGN_REVIEWS: frozenset({Role.ADMIN}),
    Action.CANCEL_RUN: frozenset({Role.ADMIN}),
    Action.RETRY_RUN: frozenset({Role.ADMIN}),
    Action.RELOAD_TEMPLATES: frozenset({Role.ADMIN}),
}
TEMPLATE_SCOPED = frozenset({Action.RUN_WORKFLOW, Action.READ_RUN, Action.RETRY_RUN})
# Roles a template may not name in allowed_roles: an auditor runs nothing.
NEVER_RUNS = frozenset({Role.AUDITOR})


_VERBS = {
    Action.LIST_TEMPLATES: "list",
    Action.RUN_WORKFLOW: "run",
    Action.READ_RUN: "read",
    Action.READ_AUDIT_LOG: "read",
    Action.READ_SCHEMES: "read",
    Action.DRAFT_SCHEME_VERSION: "draft",
    Action.PUBLISH_SCHEME_VERSION: "publish",
    Action.READ_REVIEWS: "read",
    Action.WORK_REVIEWS: "work on",
    Action.REASSIGN_REVIEWS: "reassign",
    Action.CANCEL_RUN: "cancel",
    Action.RETRY_RUN: "retry",
    Action.RELOAD_TEMPLATES: "reload",
}
_OBJECTS = {
    Action.LIST_TEMPLATES: "the templates",
    Action.RUN_WORKFLOW: "this workflow",
    Action.READ_RUN: "this run",
    Action.READ_AUDIT_LOG: "the audit log",
    Action.READ_SCHEMES: "the schemes",
    Action.DRAFT_SCHEME_VERSION: "a scheme version",
    Action.PUBLISH_SCHEME_VERSION: "a scheme version",
    Action.READ_REVIEWS: "review tasks",
    Action.WORK_REVIEWS: "review tasks",
    Action.REASSIGN_REVIEWS: "review tasks",
    Action.CANCEL_RUN: "this run",
    Action.RETRY_RUN: "this run",
    Action.RELOAD_TEMPLATES: "the templates",
}


def allowed_roles(action: Action, template_roles: frozenset[Role] = frozenset()) -> frozenset[Role]:
    """The roles that may take `action` (on a template whose allowed_roles are `template_roles`)."""
    if action in TEMPLATE_SCOPED:
        runs = action in (Action.RUN_WORKFLOW, Action.RETRY_RUN)
        return GRANTS[action] | (template_roles - NEVER_RUNS if runs else template_roles)
    return GRANTS[action]


def permits(principal: Principal, action: Action, *, template_roles: frozenset[Role] = frozenset()) -> bool:
    """Whether the principal may take the action: what authorize decides, for a caller that filters rather than
    refuses (the run list shows the runs of the templates a caller may read)."""
    return principal.has_any(allowed_roles(action, template_roles))


def authorize(
    principal: Principal, action: Action, *, template_roles: frozenset[Role] = frozenset(), what: str = ""
) -> None:
    """Returns if the principal may take the action; PermissionDeniedError, naming the roles it would take, if not."""
    if permits(principal, action, template_roles=template_roles):
        return
    allowed = allowed_roles(action, template_roles)
    target = f" {what}" if what else ""
    needed = ", ".join(sorted(allowed))
    raise PermissionDeniedError(
        f"'{principal.subject}' may not {action.value.replace('_', ' ')}{target}: needs a role of {needed}"
    )


def authorize_second_pair_of_eyes(principal: Principal, *, drafted_by: str, what: str) -> None:
    """Four eyes: whoever drafted a change may not also publish it; PermissionDeniedError if they try."""
    if principal.subject == drafted_by:
        raise PermissionDeniedError(
            f"'{principal.subject}' may not publish {what}: they drafted it, and another admin must publish it"
        )


def authorize_population(principal: Principal, size: int, limits: Mapping[Role, int]) -> None:
    """Returns if one of the principal's roles may analyse `size` citizens; PermissionDeniedError if none may.

    `limits` is the largest population per role (a deployment's setting); a role it does not name may analyse none.
    """
    allowed = max((limits.get(role, 0) for role in principal.roles), default=0)
    if size <= allowed:
        return
    raise PermissionDeniedError(
        f"'{principal.subject}' may not analyse a population of {size}: the caller's roles allow at most {allowed}"
    )


class ServiceIdentity(StrEnum):
    """A service's name in its certificate's subject (CN)."""

    GATEWAY = "gateway"
    ORCHESTRATOR = "orchestrator"
    EVALUATOR = "evaluator"
    AUDIT_SERVICE = "audit-service"


@dataclass(frozen=True)
class ServiceRule:
    """Which services may call an RPC, and for which of them the person they call for must be allowed an action."""

    callers: frozenset[ServiceIdentity]
    # A caller listed here calls on a person's behalf: it sends that person's bearer token along.
    person_actions: Mapping[ServiceIdentity, Action] = field(default_factory=dict)


_ORCHESTRATOR = frozenset({ServiceIdentity.ORCHESTRATOR})
_GATEWAY = frozenset({ServiceIdentity.GATEWAY})
_AUDITOR_VIA_GATEWAY = {ServiceIdentity.GATEWAY: Action.READ_AUDIT_LOG}

# The RPCs of the audit service and the evaluator, by method name; an RPC not listed refuses every caller.
SERVICE_RULES: dict[str, ServiceRule] = {
    # The audit log: written by the orchestrator alone. The orchestrator reads a run's trail for the
    # person it has itself authorised; the gateway reads the log for an auditor.
    "AppendEntries": ServiceRule(_ORCHESTRATOR),
    "ListEntries": ServiceRule(_ORCHESTRATOR),
    "GetEntry": ServiceRule(_GATEWAY, _AUDITOR_VIA_GATEWAY),
    "GetInclusionProof": ServiceRule(_GATEWAY, _AUDITOR_VIA_GATEWAY),
    "GetConsistencyProof": ServiceRule(_GATEWAY, _AUDITOR_VIA_GATEWAY),
    "VerifyLog": ServiceRule(_GATEWAY, _AUDITOR_VIA_GATEWAY),
    # Signed tree heads and the key are published: anyone may hold a copy (the gateway serves them without a token).
    "GetCheckpoint": ServiceRule(_GATEWAY),
    "ListCheckpoints": ServiceRule(_GATEWAY),
    "GetPublicKey": ServiceRule(_GATEWAY),
    "ListPublicKeys": ServiceRule(_GATEWAY),
    # The evaluator: called by the orchestrator.
    "Evaluate": ServiceRule(_ORCHESTRATOR),
    "EvaluateStream": ServiceRule(_ORCHESTRATOR),
}


def authorize_service(caller: str | None, rpc: str, rule: ServiceRule | None) -> None:
    """Returns if the service `caller` (its certificate's name) may call `rpc`; PermissionDeniedError if not."""
    if rule is None or caller not in rule.callers:
        who = f"service '{caller}'" if caller else "a caller without a service certificate"
        raise PermissionDeniedError(f"{who} may not call {rpc}")
