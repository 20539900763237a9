"""Who may do what to a review task: the one function every entry point (REST through gRPC, and gRPC) calls.

On top of the role an action takes (access.py), four eyes: the subject who submitted a run
never claims, holds or decides its review; only the task's candidate role (or admin) works on
it; and only its assignee gives it back or decides it.
"""

from __future__ import annotations

from enum import StrEnum

from civicflow.auth.access import Action, PermissionDeniedError, authorize
from civicflow.auth.principals import Principal, Role
from orchestrator.reviews.model import CLAIMED, ReviewTask


class ReviewAction(StrEnum):
    CLAIM = "claim"
    UNCLAIM = "unclaim"
    REASSIGN = "reassign"
    DECIDE = "decide"


def authorize_review(
    principal: Principal, task: ReviewTask, action: ReviewAction, *, new_assignee: str | None = None
) -> None:
    """Returns if `principal` may take `action` on `task`; PermissionDeniedError saying why not otherwise."""
    what = f"review task {task.review_task_id}"
    if action is ReviewAction.REASSIGN:
        authorize(principal, Action.REASSIGN_REVIEWS, what=what)
        if principal.subject == task.submitted_by:
            raise PermissionDeniedError(
                f"'{principal.subject}' may not reassign {what}: they submitted the application, and may not choose"
                " its reviewer"
            )
        if new_assignee == task.submitted_by:
            raise PermissionDeniedError(
                f"{what} cannot go to '{new_assignee}': they submitted the application, and another person must"
                " review it"
            )
        return
    authorize(principal, Action.WORK_REVIEWS, what=what)
    if principal.subject == task.submitted_by:
        raise PermissionDeniedError(
            f"'{principal.subject}' may not {action.value} {what}: they submitted the application, and another"
            " person must review it"
        )
    candidates = frozenset({Role(task.candidate_role), Role.ADMIN})
    if not principal.has_any(candidates):
        raise PermissionDeniedError(
            f"'{principal.subject}' may not {action.value} {what}: it is for the role {task.candidate_role}"
        )
    if action in (ReviewAction.UNCLAIM, ReviewAction.DECIDE) and task.holder != principal.subject:
        if task.holder is not None:
            held = f"'{task.holder}' holds it"
        elif task.status == CLAIMED:
            held = f"the claim of '{task.assignee}' lapsed; claim it again"
        else:
            held = "nobody holds it"
        raise PermissionDeniedError(
            f"'{principal.subject}' may not {action.value} {what}: only its assignee may, and {held}"
        )
