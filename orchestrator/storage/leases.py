"""Run leases in PostgreSQL: which replica drives which running run, and until when.

A replica owns a run while `lease_expires_at` (database time, so replicas' clocks do not
matter) lies ahead; it renews its leases on a heartbeat and with every step it records.
A run whose lease expired belongs to a dead or stuck replica, and any replica may claim it.
Every claim counts in `resume_attempts`, which a step journalled as done sets back to 0
(step_journal.py): a run claimed that often without finishing a step is failed instead.
Blocking: call through asyncio.to_thread.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy.engine import Engine

from orchestrator.storage.instance_records import INSTANCE_COLUMNS, InstanceRecord
from orchestrator.storage.statements import single_statements

# Renews the leases of the runs `owner` drives, and names those another replica has taken. A run
# the owner holds but no longer drives (its task died with the database, say) is not renewed:
# its lease runs out and the run is resumed, here or elsewhere.
# SKIP LOCKED: a run whose row a cancellation holds (for as long as its audit entry takes) is left for the next
# heartbeat; waiting for it would stall this replica's heartbeat, and every other run's lease with it.
_RENEW = """
    WITH renewable AS (
        SELECT instance_id FROM orchestrator.workflow_instances
         WHERE owner = %(owner)s AND status = 'running' AND instance_id = ANY(%(driving)s)
           FOR UPDATE SKIP LOCKED
    ), renewed AS (
        UPDATE orchestrator.workflow_instances SET lease_expires_at = now() + make_interval(secs => %(lease_seconds)s)
         WHERE instance_id IN (SELECT instance_id FROM renewable)
     RETURNING instance_id
    )
    SELECT instance_id FROM orchestrator.workflow_instances
     WHERE instance_id = ANY(%(driving)s) AND status = 'running' AND owner IS DISTINCT FROM %(owner)s
    """
# SKIP LOCKED: replicas scanning at once claim disjoint runs instead of queueing behind each other.
# The subquery's column is named expired_id so that no returned column is ambiguous.
# A run the claiming replica still drives (its lease ran out while the database was down) is not claimed.
# A takeover counts towards the run's bound only when its owner left it without handing it over (a crash): a
# run released by a replica that stopped in order (owner NULL) is resumed as often as deployments happen.
_CLAIM = f"""
    UPDATE orchestrator.workflow_instances
       SET owner = %(owner)s, lease_expires_at = now() + make_interval(secs => %(lease_seconds)s),
           resume_attempts = resume_attempts + CASE WHEN owner IS NULL THEN 0 ELSE 1 END
      FROM (SELECT instance_id AS expired_id FROM orchestrator.workflow_instances
             WHERE status = 'running'
               AND (lease_expires_at IS NULL OR lease_expires_at < now() OR owner = %(previous_self)s)
               AND instance_id <> ALL(%(driving)s)
             ORDER BY created_at
             LIMIT %(limit)s
               FOR UPDATE SKIP LOCKED) AS expired
     WHERE instance_id = expired_id
    RETURNING {INSTANCE_COLUMNS}
    """
_FAIL_UNRESUMABLE = """
    UPDATE orchestrator.workflow_instances
       SET status = 'failed', error = %(error)s, completed_at = now(), owner = NULL, lease_expires_at = NULL
     WHERE status = 'running' AND (lease_expires_at IS NULL OR lease_expires_at < now())
       AND resume_attempts >= %(max_resumes)s AND instance_id <> ALL(%(driving)s)
    RETURNING instance_id
    """
# Runs a replica drives that a person cancelled meanwhile (runs/cancellation.py): by primary key, so as cheap
# as the runs are few.
_CANCELLED = """
    SELECT instance_id FROM orchestrator.workflow_instances
     WHERE instance_id = ANY(%(driving)s) AND status = 'cancelled'
    """
# An expired lease, not merely none: the claim scan of every replica picks the run up at once.
_RELEASE = """
    UPDATE orchestrator.workflow_instances SET owner = NULL, lease_expires_at = now()
     WHERE owner = %(owner)s AND status = 'running' AND instance_id = ANY(%(instance_ids)s)
    RETURNING instance_id
    """


class LeaseStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def renew(self, owner: str, *, driving: Collection[uuid.UUID], lease_seconds: float) -> set[uuid.UUID]:
        """Extends `owner`'s leases of the runs it is `driving`; returns those that are now another replica's."""
        params = {"owner": owner, "driving": list(driving), "lease_seconds": lease_seconds}
        with single_statements(self._engine) as statements:
            return set(statements.scalars(_RENEW, params))

    def claim_expired(
        self,
        owner: str,
        *,
        lease_seconds: float,
        limit: int,
        previous_self: str | None = None,
        driving: Collection[uuid.UUID] = (),
    ) -> list[InstanceRecord]:
        """Takes over running runs whose lease expired, oldest first.

        `previous_self`: at start, a replica with a stable id also takes back the runs its previous
        process left, without waiting for their leases to run out (that process is gone).
        """
        params = {
            "owner": owner,
            "lease_seconds": lease_seconds,
            "limit": limit,
            "previous_self": previous_self,
            "driving": list(driving),
        }
        with single_statements(self._engine) as statements:
            return [InstanceRecord.from_row(row) for row in statements.rows(_CLAIM, params)]

    def fail_unresumable(self, *, max_resumes: int, error: str, driving: Collection[uuid.UUID] = ()) -> list[uuid.UUID]:
        """Fails the runs left without an owner after `max_resumes` claims without a finished step.

        Not those in `driving`: the calling replica still drives them (their lease ran out while the database was down).
        """
        params = {"max_resumes": max_resumes, "error": error, "driving": list(driving)}
        with single_statements(self._engine) as statements:
            return statements.scalars(_FAIL_UNRESUMABLE, params)

    def cancelled(self, driving: Collection[uuid.UUID]) -> list[uuid.UUID]:
        """Those of the runs in `driving` that have been cancelled: their replica stops driving them."""
        with single_statements(self._engine) as statements:
            return statements.scalars(_CANCELLED, {"driving": list(driving)})

    def release(self, owner: str, instance_ids: Collection[uuid.UUID]) -> list[uuid.UUID]:
        """Gives up `owner`'s leases of these runs, so that another replica resumes them at its next scan."""
        with single_statements(self._engine) as statements:
            return statements.scalars(_RELEASE, {"owner": owner, "instance_ids": list(instance_ids)})
