"""GET /audit/verify on a 60,000-entry log: concurrent callers share one verification, appends go on meanwhile,
and a report is reused until the log grows.

The log is bulk-built as the benchmark builds it (bench/audit_log_builder.py), in a database of its
own, and served by a real audit service over mutual TLS.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from audit_service.config import AuditSettings
from audit_service.server import start
from bench.audit_log_builder import build_log
from civicflow.v1 import audit_pb2
from tests.support.audit_records import new_instance, record
from tests.support.audit_stubs import AuditStubs, audit_stubs
from tests.support.background_loop import BackgroundLoop, serve_on_loopback
from tests.support.credentials import Credentials
from tests.support.databases import set_up_database

LOG_SIZE = 60_000
CALLERS = 8
# Far above an append's usual few milliseconds, far below a verification of the log: an append that
# queued behind a verification (as when both shared one thread pool) takes longer than this.
APPEND_BOUND_SECONDS = 1.0
VERIFIED = "audit log verified"


@pytest.fixture(scope="module")
def stub(
    postgres_server_url: str, background_loop: BackgroundLoop, audit_settings: AuditSettings, credentials: Credentials
) -> Iterator[AuditStubs]:
    with set_up_database(postgres_server_url, name_prefix="civicflow_verify") as database:
        build_log(database.admin_url, LOG_SIZE, progress=lambda _: None)
        settings = audit_settings.model_copy(update={"database_url": database.accounts.audit})
        with serve_on_loopback(background_loop, start(settings)) as target, audit_stubs(credentials, target) as stubs:
            yield stubs


def verify(stub: AuditStubs) -> audit_pb2.VerifyLogResponse:
    response: audit_pb2.VerifyLogResponse = stub.VerifyLog(audit_pb2.VerifyLogRequest(), timeout=300)
    return response


def append_one(stub: AuditStubs, instance: str, step: int) -> float:
    started = time.perf_counter()
    stub.AppendEntries(audit_pb2.AppendEntriesRequest(records=[record(instance, step)]), timeout=30)
    return time.perf_counter() - started


def verifications_run(caplog: pytest.LogCaptureFixture) -> int:
    return sum(1 for entry in caplog.records if entry.getMessage() == VERIFIED)


def test_concurrent_verifications_share_one_run_while_appends_go_on(
    stub: AuditStubs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="audit_service.tree.shared_verification")
    instance = new_instance()
    append_one(stub, instance, 0)  # connections and first-call costs out of the way
    appended = 1

    append_seconds: list[float] = []
    with ThreadPoolExecutor(max_workers=CALLERS) as callers:
        reports = [callers.submit(verify, stub) for _ in range(CALLERS)]
        while not all(report.done() for report in reports):
            append_seconds.append(append_one(stub, instance, appended))
            appended += 1
        reports_seen = [report.result() for report in reports]

    assert len(append_seconds) >= 5, "the verification ended before appends could be made during it"
    assert max(append_seconds) < APPEND_BOUND_SECONDS, f"an append waited {max(append_seconds):.2f} s"
    assert verifications_run(caplog) == 1
    first = reports_seen[0]
    assert first.ok and list(first.problems) == [] and not first.from_cache
    # Taken in one snapshot: the bulk-built entries and some of the appends made meanwhile, all checked.
    assert LOG_SIZE < first.tree_size <= LOG_SIZE + appended
    assert first.entries_checked == first.tree_size
    assert all(report == first for report in reports_seen), "every caller got the one run's report"


def test_a_report_is_reused_until_the_log_grows(stub: AuditStubs, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="audit_service.tree.shared_verification")
    instance = new_instance()
    append_one(stub, instance, 0)

    fresh = verify(stub)
    again = verify(stub)
    append_one(stub, instance, 1)
    grown = verify(stub)

    assert not fresh.from_cache and again.from_cache
    assert (again.tree_size, again.verified_at, again.ok) == (fresh.tree_size, fresh.verified_at, True)
    assert not grown.from_cache and grown.ok
    assert grown.tree_size == fresh.tree_size + 1 == grown.entries_checked
    assert grown.verified_at.ToDatetime() > fresh.verified_at.ToDatetime()
    assert verifications_run(caplog) == 2
