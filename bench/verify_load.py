"""Eligibility checks while auditors verify the whole audit log: what GET /audit/verify costs everybody else.

The audit service serves a log built in bulk (bench/audit_log_builder.py); an orchestrator over
one evaluator appends to it. Eligibility checks run one after another, first with nothing else
going on, then while `verifiers` callers each ask for a verification of the log again as soon as
the last one answered (every check appends, so the log keeps growing and each round verifies
again). Calls go over gRPC with each caller's certificate and token, as in `make bench`'s audit
figures (bench/audit_workloads.py); the gateway's own share of a check is in the main figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.audit_log_builder import build_log
from bench.audit_workloads import LOG_FILE, Latencies, log_size_argument
from bench.credentials import BenchCredentials
from bench.service_process import service_process
from bench.system import stderr_progress
from bench.workloads import CHECK_SCHEME
from civicflow.auth.access import ServiceIdentity
from civicflow.auth.principals import Role
from civicflow.database_setup import civicflow_migrations, drop_roles, new_passwords, setup_database
from civicflow.launch.local_database import embedded_database, scratch_database
from civicflow.v1 import audit_pb2, audit_pb2_grpc, orchestrator_pb2, orchestrator_pb2_grpc

P99_TARGET_MS = 200.0
# Untimed checks before each series: first connections, caches.
WARMUP_CHECKS = 20


@dataclass(frozen=True)
class VerifyLoadFigures:
    log_size: int
    verifiers: int
    quiet: Latencies  # eligibility checks with no verification running
    during: Latencies  # eligibility checks while the verifiers verify without pause
    verify_calls: Latencies
    # Distinct verifications the calls were answered from (by their verified_at): fewer than the
    # calls, as callers arriving during a verification share it.
    verifications: int


def measure_verify_load(
    *, log_size: int, progress: Callable[[str], None], verifiers: int = 8, checks: int = 300
) -> VerifyLoadFigures:
    LOG_FILE.parent.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        log = stack.enter_context(LOG_FILE.open("a"))
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="civicflow-bench-verify-")))
        server_url = os.environ.get("DATABASE_URL")
        if server_url is None:
            progress(f"verify load: starting a fresh embedded PostgreSQL in {scratch / 'pgdata'}")
            server_url = stack.enter_context(embedded_database(scratch / "pgdata"))
        database_url = stack.enter_context(scratch_database(server_url, prefix="civicflow_bench_verify"))
        progress(f"verify load: building {log_size:,} entries in bulk")
        build_log(database_url, log_size, progress=progress)
        prefix = f"cfbench_{uuid.uuid4().hex[:10]}"
        accounts = setup_database(database_url, civicflow_migrations(), passwords=new_passwords(), prefix=prefix)
        stack.callback(drop_roles, database_url, prefix=prefix)
        credentials = BenchCredentials.create(scratch)

        def start(argv: list[str], identity: ServiceIdentity, environment: dict[str, str]) -> str:
            return f"127.0.0.1:{stack.enter_context(service_process(argv, log, environment, credentials, identity))}"

        evaluator = start(["evaluator"], ServiceIdentity.EVALUATOR, {"EVALUATOR_PORT": "{port}"})
        audit = start(
            ["audit_service"],
            ServiceIdentity.AUDIT_SERVICE,
            {
                "AUDIT_PORT": "{port}",
                "DATABASE_URL": accounts.audit,
                "AUDIT_SIGNING_KEY_PATH": str(scratch / "audit-signing-key.pem"),
                "AUDIT_SIGNING_KEY_CREATE": "true",
            },
        )
        orchestrator = start(
            ["orchestrator"],
            ServiceIdentity.ORCHESTRATOR,
            {
                "ORCHESTRATOR_PORT": "{port}",
                "DATABASE_URL": accounts.orchestrator,
                "EVALUATOR_TARGET": evaluator,
                "AUDIT_TARGET": audit,
            },
        )
        token = credentials.token(Role.CASEWORKER)
        caseworker = stack.enter_context(
            credentials.channel(orchestrator, server=ServiceIdentity.ORCHESTRATOR, token=token)
        )
        auditor = stack.enter_context(
            credentials.channel(
                audit,
                server=ServiceIdentity.AUDIT_SERVICE,
                as_=ServiceIdentity.GATEWAY,
                token=credentials.token(Role.AUDITOR),
            )
        )
        checker = orchestrator_pb2_grpc.OrchestratorServiceStub(caseworker)
        progress(f"verify load: {checks} eligibility checks with no verification running")
        quiet = _time_checks(checker, checks, first_citizen=1)
        progress(f"verify load: {checks} eligibility checks while {verifiers} callers verify the log without pause")
        during, calls = _time_checks_while_verifying(
            checker, audit_pb2_grpc.AuditServiceStub(auditor), checks, verifiers
        )
    latencies = Latencies(tuple(seconds for seconds, _ in calls))
    return VerifyLoadFigures(
        log_size=log_size,
        verifiers=verifiers,
        quiet=quiet,
        during=during,
        verify_calls=latencies,
        verifications=len({verified_at for _, verified_at in calls}),
    )


def _time_checks(
    checker: orchestrator_pb2_grpc.OrchestratorServiceStub, count: int, *, first_citizen: int
) -> Latencies:
    for number in range(WARMUP_CHECKS):
        _check(checker, 9_000_000 + first_citizen + number)
    return Latencies(tuple(_check(checker, number) for number in range(first_citizen, first_citizen + count)))


def _time_checks_while_verifying(
    checker: orchestrator_pb2_grpc.OrchestratorServiceStub,
    auditor: audit_pb2_grpc.AuditServiceStub,
    count: int,
    verifiers: int,
) -> tuple[Latencies, list[tuple[float, str]]]:
    """The checks' latencies, and each verify call's latency and the verified_at of the report it got."""
    done = threading.Event()

    def verify_until_done(_: int) -> list[tuple[float, str]]:
        calls = []
        while not done.is_set():
            started = time.perf_counter()
            reply = auditor.VerifyLog(audit_pb2.VerifyLogRequest(), timeout=600)
            if not reply.ok:
                raise RuntimeError(f"the bulk-built log did not verify: {list(reply.problems)[:3]}")
            calls.append((time.perf_counter() - started, reply.verified_at.ToJsonString()))
        return calls

    with ThreadPoolExecutor(max_workers=verifiers, thread_name_prefix="bench-verifier") as pool:
        callers = [pool.submit(verify_until_done, caller) for caller in range(verifiers)]
        try:
            time.sleep(1.0)  # the verification under way before the first timed check
            checks = _time_checks(checker, count, first_citizen=100_001)
        finally:
            done.set()
        calls = [call for caller in callers for call in caller.result()]
    return checks, calls


def _check(checker: orchestrator_pb2_grpc.OrchestratorServiceStub, number: int) -> float:
    request = orchestrator_pb2.ExecuteWorkflowRequest(
        template_id="eligibility_check",
        inputs_json=json.dumps({"citizen_id": f"CIT-{number}", "scheme_name": CHECK_SCHEME}),
    )
    started = time.perf_counter()
    reply = checker.ExecuteWorkflow(request, timeout=60)
    elapsed = time.perf_counter() - started
    if reply.instance.status != orchestrator_pb2.RUN_STATUS_COMPLETED:
        raise RuntimeError(f"eligibility_check {reply.instance.instance_id} did not complete: {reply.instance.error}")
    return elapsed


def verify_load_json(figures: VerifyLoadFigures) -> dict[str, Any]:
    def summary(latencies: Latencies) -> dict[str, float]:
        return {"p50_ms": latencies.ms(50), "p99_ms": latencies.ms(99), "max_ms": latencies.ms(100)}

    return {
        "log_size": figures.log_size,
        "verifiers": figures.verifiers,
        "eligibility_check_quiet": summary(figures.quiet),
        "eligibility_check_while_verifying": summary(figures.during) | {"target_p99_ms": P99_TARGET_MS},
        "verify_call": summary(figures.verify_calls)
        | {"calls": len(figures.verify_calls.seconds), "verifications": figures.verifications},
    }


def verify_load_table(figures: VerifyLoadFigures) -> str:
    rows = [
        ("eligibility check, nothing else running", figures.quiet, ""),
        (
            f"eligibility check, {figures.verifiers} callers verifying",
            figures.during,
            f"target p99 < {P99_TARGET_MS:.0f} ms",
        ),
        (
            "verify call",
            figures.verify_calls,
            f"{len(figures.verify_calls.seconds)} calls, {figures.verifications} verifications",
        ),
    ]
    lines = [
        f"audit verification load (log of {figures.log_size:,}, gRPC)",
        f"  {'':<44}{'p50 ms':>9}  {'p99 ms':>9}  {'max ms':>9}",
    ]
    for name, latencies, note in rows:
        percentiles = "  ".join(f"{latencies.ms(percent):>9.2f}" for percent in (50, 99, 100))
        lines.append(f"  {name:<44}{percentiles}  {note}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.verify_load`: the verification-load figures alone (`make bench` prints them too)."""
    parser = argparse.ArgumentParser(prog="python -m bench.verify_load", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--log-size", type=log_size_argument, default=60_000, help="entries of the log verified (default: 60000)"
    )
    parser.add_argument("--checks", type=int, default=300, help="eligibility checks per series (default: 300)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    arguments = parser.parse_args(argv)
    if arguments.log_size == 0:
        return 0
    figures = measure_verify_load(log_size=arguments.log_size, progress=stderr_progress, checks=arguments.checks)
    print(json.dumps(verify_load_json(figures), indent=2) if arguments.json else verify_load_table(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
