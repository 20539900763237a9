"""What storing a retry takes besides its instance row: the successes it takes over, and its one-per-run rule."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2.errors

from orchestrator.errors import RunConflictError
from orchestrator.storage.instance_records import NewRun
from orchestrator.storage.step_journal import JOURNAL_ATTEMPTS

# The unique index on workflow_instances.retry_of (migration 0011).
ONE_RETRY_PER_RUN = "one_retry_per_run"

# Journals the successes a retry takes over from the run it retries, in the transaction that creates it.
JOURNAL_RETRY = f"WITH owned AS (SELECT CAST(%(instance_id)s AS uuid) AS instance_id) {JOURNAL_ATTEMPTS}"


@contextmanager
def one_retry_per_run(run: NewRun) -> Iterator[None]:
    """RunConflictError if another request retried the same run first (the two raced past the status check)."""
    try:
        yield
    except psycopg2.errors.UniqueViolation as error:
        if error.diag.constraint_name != ONE_RETRY_PER_RUN:
            raise
        raise RunConflictError(f"run {run.retry_of} has been retried already") from None
