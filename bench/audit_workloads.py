"""Audit-log figures of `make bench`: proofs on a million-entry log, appends, and what the Merkle log costs a run.

Every service runs as its own process, started here with its real entry point: the audit
service over a log built in bulk (bench/audit_log_builder.py), and, for the overhead figure,
two orchestrators over one evaluator, one appending to the real audit service, the other to
the pre-Merkle baseline (bench/plain_audit.py). Their impact analyses alternate, so drift in
the machine's speed affects both alike. Calls go over gRPC, without the REST layer, so the
overhead is a share of the orchestrator's own time, not diluted by HTTP. Every service has its
certificate and every call its credential (bench/credentials.py): appends as the orchestrator,
proofs as the gateway does for an auditor, impact analyses with an analyst's token.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from audit_service.tree.merkle import leaf_hash, verify_inclusion
from bench.audit_log_builder import build_log
from bench.credentials import BenchCredentials
from bench.service_process import service_process
from bench.system import stderr_progress
from bench.workloads import IMPACT_PROPOSED_RULES, IMPACT_SCHEME, percentile_ms
from civicflow.auth.access import ServiceIdentity
from civicflow.auth.principals import Role
from civicflow.database_setup import (
    DatabaseAccounts,
    civicflow_migrations,
    drop_roles,
    new_passwords,
    setup_database,
)
from civicflow.launch.local_database import embedded_database, scratch_database
from civicflow.settings import REPO_ROOT
from civicflow.v1 import audit_pb2, audit_pb2_grpc, orchestrator_pb2, orchestrator_pb2_grpc

LOG_FILE = REPO_ROOT / ".civicflow" / "bench-audit.log"
PROOF_TARGET_MS = 100.0
OVERHEAD_TARGET_PERCENT = 10.0
IMPACT_INPUTS = {"scheme_name": IMPACT_SCHEME, "population_size": 500, "proposed_rules": IMPACT_PROPOSED_RULES}


@dataclass(frozen=True)
class Latencies:
    seconds: tuple[float, ...]

    def ms(self, percent: float) -> float:
        return percentile_ms(self.seconds, percent)


@dataclass(frozen=True)
class AuditFigures:
    log_size: int
    build_seconds: float
    inclusion: Latencies
    consistency: Latencies
    sequential_append: Latencies
    clients: int
    concurrent_append: Latencies
    concurrent_seconds: float
    impact_with_merkle: tuple[float, ...]
    impact_plain: tuple[float, ...]

    @property
    def entries_per_second(self) -> float:
        return len(self.concurrent_append.seconds) / self.concurrent_seconds

    @property
    def overhead_percent(self) -> float:
        """Median over the back-to-back pairs of how much longer the run with the Merkle log took."""
        ratios = [merkle / plain for merkle, plain in zip(self.impact_with_merkle, self.impact_plain, strict=True)]
        return (statistics.median(ratios) - 1) * 100


def measure_audit(
    *,
    log_size: int,
    progress: Callable[[str], None],
    proofs: int = 300,
    appends: int = 300,
    clients: int = 16,
    workflows_per_client: int = 20,
    impact_runs: int = 30,
) -> AuditFigures:
    LOG_FILE.parent.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        log = stack.enter_context(LOG_FILE.open("w"))
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="civicflow-bench-audit-")))
        server_url = os.environ.get("DATABASE_URL")
        if server_url is None:
            progress(f"audit log: starting a fresh embedded PostgreSQL in {scratch / 'pgdata'}")
            server_url = stack.enter_context(embedded_database(scratch / "pgdata"))

        def database(purpose: str) -> str:
            """A database per use, dropped when the benchmark ends (after the services using it stopped)."""
            return stack.enter_context(scratch_database(server_url, prefix=f"civicflow_bench_audit_{purpose}"))

        def accounts(url: str) -> DatabaseAccounts:
            """The services' roles on it, as `make run` makes them; removed before the database is dropped."""
            prefix = f"cfbench_{uuid.uuid4().hex[:10]}"
            made = setup_database(url, civicflow_migrations(), passwords=new_passwords(), prefix=prefix)
            stack.callback(drop_roles, url, prefix=prefix)
            return made

        key = scratch / "audit-signing-key.pem"
        credentials = BenchCredentials.create(scratch)

        # First, while the server is fresh: the bulk load below leaves it checkpointing for a while,
        # which would weigh on whichever side of the comparison commits more pages.
        progress(f"audit log: {impact_runs} + {impact_runs} impact analyses of 500, with and without the Merkle log")
        with ExitStack() as impact_services:
            with_merkle, plain = _time_impact_overhead(
                impact_services, log, database, accounts, key, credentials, impact_runs
            )

        progress(f"audit log: building {log_size:,} entries in bulk")
        started = time.perf_counter()
        log_url = database("log")
        root = build_log(log_url, log_size, progress=progress)
        build_seconds = time.perf_counter() - started
        audit_url = accounts(log_url).audit
        audit_port = stack.enter_context(
            service_process(
                ["audit_service"], log, _audit_env(audit_url, key), credentials, ServiceIdentity.AUDIT_SERVICE
            )
        )
        target = f"127.0.0.1:{audit_port}"
        # Proofs are read as the gateway reads them for an auditor; entries are appended as the orchestrator does.
        reader = stack.enter_context(
            credentials.channel(
                target,
                server=ServiceIdentity.AUDIT_SERVICE,
                as_=ServiceIdentity.GATEWAY,
                token=credentials.token(Role.AUDITOR),
            )
        )
        writer = stack.enter_context(_audit_writer_channel(credentials, target))

        progress(f"audit log: {proofs} inclusion and {proofs} consistency proofs")
        inclusion, consistency = _time_proofs(audit_pb2_grpc.AuditServiceStub(reader), log_size, root, proofs)
        progress(f"audit log: {appends} sequential appends, then {clients} concurrent clients")
        audit = audit_pb2_grpc.AuditServiceStub(writer)
        sequential = Latencies(tuple(_append_workflow(audit, steps=1)[0] for _ in range(appends)))
        concurrent, concurrent_seconds = _time_concurrent_appends(credentials, target, clients, workflows_per_client)
    return AuditFigures(
        log_size=log_size,
        build_seconds=build_seconds,
        inclusion=inclusion,
        consistency=consistency,
        sequential_append=sequential,
        clients=clients,
        concurrent_append=concurrent,
        concurrent_seconds=concurrent_seconds,
        impact_with_merkle=with_merkle,
        impact_plain=plain,
    )


def audit_json(figures: AuditFigures) -> dict[str, Any]:
    def summary(latencies: Latencies) -> dict[str, float]:
        return {"p50_ms": latencies.ms(50), "p99_ms": latencies.ms(99), "max_ms": latencies.ms(100)}

    return {
        "log_size": figures.log_size,
        "build_s": figures.build_seconds,
        "inclusion_proof": summary(figures.inclusion) | {"target_ms": PROOF_TARGET_MS},
        "consistency_proof": summary(figures.consistency),
        "sequential_append": summary(figures.sequential_append),
        "concurrent_append": summary(figures.concurrent_append)
        | {"clients": figures.clients, "entries_per_s": figures.entries_per_second},
        "impact_500": {
            "with_merkle_median_s": statistics.median(figures.impact_with_merkle),
            "without_merkle_median_s": statistics.median(figures.impact_plain),
            "runs": len(figures.impact_plain),
            "overhead_percent": figures.overhead_percent,
            "target_percent": OVERHEAD_TARGET_PERCENT,
        },
    }


def audit_table(figures: AuditFigures) -> str:
    rows = [
        (
            f"inclusion proof, log of {figures.log_size:,} (gRPC)",
            figures.inclusion,
            f"target < {PROOF_TARGET_MS:.0f} ms",
        ),
        (f"consistency proof, log of {figures.log_size:,}", figures.consistency, ""),
        ("append, one client, one entry per call", figures.sequential_append, ""),
        (
            f"append, {figures.clients} clients",
            figures.concurrent_append,
            f"{figures.entries_per_second:,.0f} entries/s",
        ),
    ]
    lines = [
        f"audit log (built in {figures.build_seconds:.1f} s)",
        f"  {'':<44}{'p50 ms':>8}  {'p99 ms':>8}  {'max ms':>8}",
    ]
    for name, latencies, note in rows:
        percentiles = "  ".join(f"{latencies.ms(percent):>8.2f}" for percent in (50, 99, 100))
        lines.append(f"  {name:<44}{percentiles}  {note}")
    with_merkle, plain = statistics.median(figures.impact_with_merkle), statistics.median(figures.impact_plain)
    lines.append(
        f"  impact_analysis of 500 (gRPC, {len(figures.impact_plain)} back-to-back pairs): median {with_merkle:.4f} s "
        f"with the Merkle log, {plain:.4f} s without; overhead (median of the pairs) "
        f"{figures.overhead_percent:+.1f} % (target < {OVERHEAD_TARGET_PERCENT:.0f} %)"
    )
    return "\n".join(lines)


def _time_proofs(
    audit: audit_pb2_grpc.AuditServiceStub, size: int, root: bytes, count: int
) -> tuple[Latencies, Latencies]:
    chooser = random.Random(20250301)
    inclusion, consistency = [], []
    for _ in range(count):
        seq = chooser.randrange(size)
        started = time.perf_counter()
        proof = audit.GetInclusionProof(audit_pb2.GetInclusionProofRequest(seq=seq, tree_size=size), timeout=10)
        inclusion.append(time.perf_counter() - started)
        entry = audit.GetEntry(audit_pb2.GetEntryRequest(seq=seq), timeout=10)
        leaf = leaf_hash(entry.canonical_json.encode())
        if leaf != entry.entry.leaf_hash:
            raise RuntimeError(f"entry {seq} was built with another leaf hash than the service computes")
        if not verify_inclusion(leaf=leaf, index=seq, tree_size=size, path=list(proof.audit_path), root=root):
            raise RuntimeError(f"the inclusion proof of entry {seq} does not verify")
        first = chooser.randrange(1, size)
        started = time.perf_counter()
        reply = audit.GetConsistencyProof(audit_pb2.GetConsistencyProofRequest(first=first, second=size), timeout=10)
        consistency.append(time.perf_counter() - started)
        if not reply.proof:
            raise RuntimeError(f"no consistency proof from {first} to {size}")
    checkpoint = audit.GetCheckpoint(audit_pb2.GetCheckpointRequest(), timeout=10).checkpoint
    if checkpoint.tree_size != size or checkpoint.root_hash != root:
        raise RuntimeError("the service's checkpoint does not sign the log that was built")
    return Latencies(tuple(inclusion)), Latencies(tuple(consistency))


def _append_workflow(audit: audit_pb2_grpc.AuditServiceStub, *, steps: int) -> list[float]:
    """Appends like one run of a workflow: `steps` entries, one call each, one after the other."""
    instance, now = str(uuid.uuid4()), Timestamp()
    now.FromDatetime(datetime.now(UTC))
    latencies = []
    for step in range(steps):
        record = audit_pb2.AuditRecord(
            instance_id=instance, step_name=f"step_{step}", step_index=step, attempt=1,
            status=audit_pb2.STEP_STATUS_SUCCESS, started_at=now, completed_at=now,
            input_json='{"citizen_id":"CIT-0000001"}', output_json='{"ok":true}',
            idempotency_key=f"{instance}/{step}/1",
        )  # fmt: skip
        started = time.perf_counter()
        audit.AppendEntries(audit_pb2.AppendEntriesRequest(records=[record]), timeout=30)
        latencies.append(time.perf_counter() - started)
    return latencies


def _audit_writer_channel(credentials: BenchCredentials, target: str) -> grpc.Channel:
    return credentials.channel(target, server=ServiceIdentity.AUDIT_SERVICE, as_=ServiceIdentity.ORCHESTRATOR)


def _time_concurrent_appends(
    credentials: BenchCredentials, target: str, clients: int, workflows: int
) -> tuple[Latencies, float]:
    def client(_: int) -> list[float]:
        with _audit_writer_channel(credentials, target) as channel:
            stub = audit_pb2_grpc.AuditServiceStub(channel)
            return [latency for _ in range(workflows) for latency in _append_workflow(stub, steps=4)]

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        latencies = [latency for per_client in pool.map(client, range(clients)) for latency in per_client]
    return Latencies(tuple(latencies)), time.perf_counter() - started


def _time_impact_overhead(
    stack: ExitStack,
    log: TextIO,
    database: Callable[[str], str],
    accounts: Callable[[str], DatabaseAccounts],
    key: Path,
    credentials: BenchCredentials,
    runs: int,
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    evaluator = stack.enter_context(
        service_process(["evaluator"], log, {"EVALUATOR_PORT": "{port}"}, credentials, ServiceIdentity.EVALUATOR)
    )
    merkle_url, plain_url = database("impact_merkle"), database("impact_plain")
    merkle_accounts, plain_accounts = accounts(merkle_url), accounts(plain_url)
    audit_identity = ServiceIdentity.AUDIT_SERVICE
    audit = stack.enter_context(
        service_process(["audit_service"], log, _audit_env(merkle_accounts.audit, key), credentials, audit_identity)
    )
    # The baseline serves with the audit service's certificate too: the orchestrators reach both alike.
    plain = stack.enter_context(
        service_process(["bench.plain_audit", "{port}", plain_url], log, {}, credentials, audit_identity)
    )
    analyst = credentials.token(Role.ANALYST)
    orchestrators = {}
    sides = (("merkle", merkle_accounts.orchestrator, audit), ("plain", plain_accounts.orchestrator, plain))
    for name, url, audit_port in sides:
        environment = {
            "ORCHESTRATOR_PORT": "{port}",
            "DATABASE_URL": url,
            "EVALUATOR_TARGET": f"127.0.0.1:{evaluator}",
            "AUDIT_TARGET": f"127.0.0.1:{audit_port}",
        }
        port = stack.enter_context(
            service_process(["orchestrator"], log, environment, credentials, ServiceIdentity.ORCHESTRATOR)
        )
        channel = stack.enter_context(
            credentials.channel(f"127.0.0.1:{port}", server=ServiceIdentity.ORCHESTRATOR, token=analyst)
        )
        orchestrators[name] = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
    timings: dict[str, list[float]] = {"merkle": [], "plain": []}
    for run in range(runs + 2):  # two untimed warm-up runs each
        # Pairs run back to back, in alternating order, so a burst of load elsewhere hits both alike.
        for name in ("merkle", "plain") if run % 2 else ("plain", "merkle"):
            elapsed = _impact_analysis(orchestrators[name])
            if run >= 2:
                timings[name].append(elapsed)
    return tuple(timings["merkle"]), tuple(timings["plain"])


def _impact_analysis(stub: orchestrator_pb2_grpc.OrchestratorServiceStub) -> float:
    request = orchestrator_pb2.ExecuteWorkflowRequest(
        template_id="impact_analysis", inputs_json=json.dumps(IMPACT_INPUTS)
    )
    started = time.perf_counter()
    reply = stub.ExecuteWorkflow(request, timeout=120)
    elapsed = time.perf_counter() - started
    if reply.instance.status != orchestrator_pb2.RUN_STATUS_COMPLETED:
        raise RuntimeError(f"impact_analysis did not complete: {reply.instance.error}")
    return elapsed


def _audit_env(database_url: str, key: Path) -> dict[str, str]:
    return {
        "AUDIT_PORT": "{port}",
        "DATABASE_URL": database_url,
        "AUDIT_SIGNING_KEY_PATH": str(key),
        "AUDIT_SIGNING_KEY_CREATE": "true",
    }


def log_size_argument(text: str) -> int:
    """argparse type of the proof log's size: 0 (skip the audit figures) or at least 2 entries."""
    size = int(text)
    if size < 0 or size == 1:
        raise argparse.ArgumentTypeError("the audit log size is 0 (skip) or at least 2")
    return size


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.audit_workloads`: the audit figures alone (`make bench` prints them too)."""
    parser = argparse.ArgumentParser(prog="python -m bench.audit_workloads", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--log-size", type=log_size_argument, default=1_000_000, help="entries of the proof log (default: 1000000)"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    arguments = parser.parse_args(argv)
    if arguments.log_size == 0:
        return 0
    figures = measure_audit(log_size=arguments.log_size, progress=stderr_progress)
    print(json.dumps(audit_json(figures), indent=2) if arguments.json else audit_table(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
