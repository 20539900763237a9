"""Follows a running workflow until it ends: a live progress bar from the run's event stream, or from polling.

The events (`GET /workflows/{id}/events`) are preferred: the gateway pushes each change, and the
last event is the finished run. A stream that breaks, or a service that is briefly unavailable
(before the stream or in its `error` event), is followed by polling `GET /workflows/{id}`.
A run that reports no `progress` gets a spinner instead of a bar. A run waiting for a person's
review has not ended: it is followed on, its review task named, until the review is decided and
the run ends. Following a run survives a service restart.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from civicflow_cli.api import Api, ApiError, CliError, GatewayUnreachableError

# Statuses of a run that has not ended: an impact analysis may wait queued before it runs, and a
# benefit application waits for a person's review.
WAITING = "waiting"
UNFINISHED = frozenset({"queued", "running", WAITING})
POLL_INTERVAL_SECONDS = 0.25
# A review takes a person minutes or days: polling a waiting run more often only loads the gateway.
WAITING_POLL_INTERVAL_SECONDS = 2.0
OUTAGE_PATIENCE_SECONDS = 60.0
UNAVAILABLE = 503


def snapshots(
    api: Api,
    instance_id: str,
    *,
    poll_interval: float = POLL_INTERVAL_SECONDS,
    outage_patience: float = OUTAGE_PATIENCE_SECONDS,
) -> Iterator[dict[str, Any]]:
    """The run's state after each change, ending with its final state (the stream's last event, or a GET).

    A service that is briefly away (the launcher restarting the orchestrator, say) is waited
    for up to `outage_patience` seconds: a durable run goes on after the restart.
    """
    try:
        for state in api.events(instance_id):
            yield state
            # The terminal event is the instance as GET answers it: nothing left to ask for.
            if state["status"] not in UNFINISHED:
                return
    except CliError as error:
        if not _is_outage(error):
            raise
    outage_since: float | None = None
    while True:
        try:
            state = api.instance(instance_id)
        except CliError as error:
            outage_since = outage_since or time.monotonic()
            if not _is_outage(error) or time.monotonic() - outage_since > outage_patience:
                raise
            time.sleep(poll_interval * 4)
            continue
        outage_since = None
        yield state
        if state.get("status") not in UNFINISHED:
            return
        waiting = state.get("status") == WAITING
        time.sleep(max(poll_interval, WAITING_POLL_INTERVAL_SECONDS) if waiting else poll_interval)


def _is_outage(error: CliError) -> bool:
    return isinstance(error, GatewayUnreachableError) or (isinstance(error, ApiError) and error.status == UNAVAILABLE)


class _CountColumn(ProgressColumn):
    """ "354,000/1,000,000": rich's own M-of-N column has no thousands separators."""

    def render(self, task: Task) -> Text:
        if task.total is None:
            return Text("")
        return Text(f"{int(task.completed):,}/{int(task.total):,}", style="progress.download")


def follow(api: Api, instance_id: str, *, console: Console, label: str) -> dict[str, Any]:
    """Shows the run's progress on `console` until it ends; returns its final state."""
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        _CountColumn(),
        TextColumn("{task.fields[unit]}"),
        TimeElapsedColumn(),
    )
    final: dict[str, Any] = {}
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(label, total=None, unit="")
        for state in snapshots(api, instance_id):
            _show(progress, task, state.get("progress"))
            progress.update(task, description=_described(label, state))
            final = state
    return final


def _described(label: str, state: dict[str, Any]) -> str:
    review_task_id = (state.get("waiting_for") or {}).get("review_task_id")
    if state.get("status") == WAITING and review_task_id:
        return f"{label} waiting for review task {review_task_id}"
    return label


def _show(progress: Progress, task: TaskID, run_progress: dict[str, Any] | None) -> None:
    if not run_progress:
        return  # no figures: the spinner says the run is alive
    items_total = int(run_progress.get("items_total") or 0)
    steps = f"step {run_progress.get('steps_completed', 0)}/{run_progress.get('steps_total', 0)}"
    if items_total:
        done = int(run_progress.get("items_done") or 0)
        progress.update(task, total=items_total, completed=done, unit=f"items, {steps}")
    else:
        progress.update(
            task,
            total=int(run_progress.get("steps_total") or 0) or None,
            completed=int(run_progress.get("steps_completed") or 0),
            unit="steps",
        )
