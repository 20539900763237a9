"""The audit service's metrics: how long a group commit takes, how many entries it stored, how long the log is."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter, Gauge, Histogram

from audit_service.log.records import StoredEntry

APPEND_SECONDS = Histogram(
    "civicflow_audit_append_seconds",
    "The time one group-commit transaction took to store the entries of the appends it took.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
ENTRIES_APPENDED = Counter("civicflow_audit_entries_appended", "Entries this process stored in the audit log.")
LOG_ENTRIES = Gauge(
    "civicflow_audit_log_entries",
    "Entries in the audit log, as of this process's start or last append (the head covers them all).",
)


def log_size(entries: int) -> None:
    LOG_ENTRIES.set(entries)


def committed(answers: Iterable[list[StoredEntry] | BaseException], seconds: float) -> None:
    """A group commit ended: its duration, and the entries stored; the log now ends after the last of them."""
    APPEND_SECONDS.observe(seconds)
    stored = [entries for entries in answers if not isinstance(entries, BaseException)]
    count = sum(len(entries) for entries in stored)
    if count:
        ENTRIES_APPENDED.inc(count)
        # Appends are serialised on the head: the last entry of this transaction is the log's last.
        LOG_ENTRIES.set(max(entries[-1].seq for entries in stored if entries) + 1)
