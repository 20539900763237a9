"""Two checkouts side by side: which one runs eligibility checks faster, measured at the same moments.

    python -m bench.compare --baseline ../civicflow-before

starts this checkout's system and the baseline's (each `python -m civicflow.launch` from its
own tree) on one PostgreSQL server, a fresh embedded one unless DATABASE_URL is set, each on
its own database and free ports. Then, round after round, each system in turn gets a burst of
sequential checks and a burst from concurrent clients while the other idles; with
`--impact-population N`, also one impact analysis of N citizens (scheme_alpha with
proposed_rules, as `make bench` times it) per round. The development
machine's speed drifts by more than most changes make (the same commit measured 136 and 218
checks a second within hours), and bursts interleaved this way see the same drift.

A checkout with bearer tokens (civicflow/auth/) is sent a caseworker's (and an analyst's) token
signed with the key its own launcher made; an older one, whose gateway knows no tokens, is sent none.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.credentials import subject_of
from bench.launcher_process import launcher_process
from bench.rest_client import RestClient
from bench.system import UNTHROTTLED, BenchSystemError, stderr_progress, wait_until_healthy
from bench.workloads import (
    CheckTiming,
    percentile_ms,
    time_concurrent_checks,
    time_eligibility_checks,
    time_impact_analysis,
)
from civicflow.auth.local_issuer import LocalTokenIssuer
from civicflow.auth.principals import Role
from civicflow.launch.local_database import embedded_database, scratch_database
from civicflow.launch.settings import free_port_environment
from civicflow.settings import REPO_ROOT

# A million-citizen impact analysis takes seconds; the gateway's own deadline is 600 s.
REQUEST_TIMEOUT_SECONDS = 660.0
# Citizen numbers of each burst start here and grow: every check is of a new citizen.
FIRST_CITIZEN = 2_000_001
# Under each system's work directory: the launcher makes the local token issuer's key there on its first start.
ISSUER_KEY = "token-issuer-key.pem"


@dataclass
class _System:
    name: str
    gateway_url: str
    # The caseworker's bearer token its checks carry; None for a checkout without authentication.
    token: str | None
    # The analyst's, for impact analyses.
    analyst_token: str | None
    sequential: list[CheckTiming] = field(default_factory=list)
    concurrent: list[CheckTiming] = field(default_factory=list)
    impact_seconds: list[float] = field(default_factory=list)

    def summary(self) -> str:
        latencies = [latency for timing in self.sequential for latency in timing.latencies_seconds]
        rates = [timing.workflows_per_second for timing in self.concurrent]
        impact = (
            f"; impact_analysis median {statistics.median(self.impact_seconds):.3f} s"
            f" (rounds {', '.join(f'{seconds:.3f}' for seconds in self.impact_seconds)})"
            if self.impact_seconds
            else ""
        )
        return (
            f"{self.name:>8}: sequential p50 {percentile_ms(latencies, 50):.2f} ms,"
            f" p99 {percentile_ms(latencies, 99):.2f} ms"
            f" ({len(latencies)} checks); concurrent median {statistics.median(rates):.0f} checks/s"
            f" (rounds {', '.join(f'{rate:.0f}' for rate in rates)}){impact}"
        )


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, required=True, help="another checkout of Civicflow, installed or not")
    parser.add_argument("--rounds", type=int, default=6, help="bursts per system (default: 6)")
    parser.add_argument("--sequential", type=int, default=60, help="sequential checks per burst (default: 60)")
    parser.add_argument("--concurrent", type=int, default=400, help="concurrent checks per burst (default: 400)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default: 16)")
    parser.add_argument(
        "--impact-population",
        type=int,
        default=0,
        help="also one impact_analysis of this many citizens per system and round, 1 to 1000000 (default: 0, none)",
    )
    arguments = parser.parse_args(argv)
    if not (arguments.baseline / "civicflow").is_dir():
        parser.error(f"--baseline {arguments.baseline} is not a Civicflow checkout")
    if min(arguments.rounds, arguments.sequential, arguments.concurrent, arguments.clients) < 1:
        parser.error("--rounds, --sequential, --concurrent and --clients must be at least 1")
    if not 0 <= arguments.impact_population <= 1_000_000:
        parser.error("--impact-population must be from 0 to 1000000")
    return arguments


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    trees = {"this": REPO_ROOT, "baseline": arguments.baseline.resolve()}
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="civicflow-compare-")))
        server_url = os.environ.get("DATABASE_URL") or stack.enter_context(embedded_database(workdir / "pgdata"))
        systems = []
        # One after the other: the first system's ports and connections are taken before the
        # second's ports are chosen, so the second cannot be handed a port the first is about to use.
        for name, tree in trees.items():
            database_url = stack.enter_context(scratch_database(server_url, prefix=f"compare_{name}"))
            gateway_url, launcher = stack.enter_context(_launched(tree, database_url, workdir / name))
            try:
                wait_until_healthy(gateway_url, functools.partial(_has_exited, launcher))
            except BenchSystemError as error:
                log = (workdir / name / "services.log").read_text(errors="replace")[-3000:]
                raise BenchSystemError(f"{name} did not start: {error}\n{log}") from None
            system = _System(
                name,
                gateway_url,
                _token(tree, workdir / name, Role.CASEWORKER),
                _token(tree, workdir / name, Role.ANALYST),
            )
            with _client(system) as client:
                time_eligibility_checks(client, count=100, first_citizen=9_000_001)  # untimed warm-up
            systems.append(system)
        _measure(systems, arguments)
    for system in systems:
        print(system.summary())
    return 0


def _measure(systems: list[_System], arguments: argparse.Namespace) -> None:
    citizen = FIRST_CITIZEN
    for round_number in range(arguments.rounds):
        # Who goes first alternates, so neither always follows the other's load.
        for system in systems if round_number % 2 == 0 else systems[::-1]:
            with _client(system) as client:
                system.sequential.append(
                    time_eligibility_checks(client, count=arguments.sequential, first_citizen=citizen)
                )
            citizen += arguments.sequential
            with ExitStack() as clients:
                opened = [clients.enter_context(_client(system)) for _ in range(arguments.clients)]
                system.concurrent.append(
                    time_concurrent_checks(opened, count=arguments.concurrent, first_citizen=citizen)
                )
            citizen += arguments.concurrent
            if arguments.impact_population:
                with _client(system, token=system.analyst_token) as client:
                    timing = time_impact_analysis(client, population=arguments.impact_population, warmup_runs=0, runs=1)
                system.impact_seconds.extend(timing.seconds)
        stderr_progress(
            f"round {round_number + 1} of {arguments.rounds}: "
            + "; ".join(
                f"{system.name} p50 {system.sequential[-1].percentile_ms(50):.2f} ms,"
                f" {system.concurrent[-1].workflows_per_second:.0f}/s"
                for system in systems
            )
        )


def _client(system: _System, *, token: str | None = None) -> RestClient:
    return RestClient(system.gateway_url, timeout=REQUEST_TIMEOUT_SECONDS, token=token or system.token)


def _token(tree: Path, workdir: Path, role: Role) -> str | None:
    """Signed with the key the tree's launcher made in `workdir`; None for a checkout from before bearer tokens."""
    if not (tree / "civicflow" / "auth").is_dir():
        return None
    return LocalTokenIssuer(workdir / ISSUER_KEY).issue(subject_of(role), [role])


def _has_exited(process: subprocess.Popen[bytes]) -> bool:
    return process.poll() is not None


@contextmanager
def _launched(tree: Path, database_url: str, workdir: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The launcher of `tree` running on free ports against `database_url`; yields its gateway's URL and process."""
    workdir.mkdir(parents=True, exist_ok=True)
    ports = free_port_environment()
    environment = {
        **os.environ,
        **ports,
        "PYTHONPATH": str(tree),  # the tree's own code, whichever checkout the venv was installed from
        "DATABASE_URL": database_url,
        "AUDIT_SIGNING_KEY_PATH": str(workdir / "audit-signing-key.pem"),
        # Its own certificates and token issuer, not those of the checkout's .civicflow (older launchers ignore these).
        "TLS_DIR": str(workdir / "tls"),
        "TOKEN_ISSUER_KEY_PATH": str(workdir / ISSUER_KEY),
        "EVALUATORS": "1",
        **UNTHROTTLED,  # older checkouts have no limit and ignore it
    }
    log_path = workdir / "services.log"
    stderr_progress(f"starting {tree} (logs in {log_path})")
    with launcher_process(tree, environment, log_path) as process:
        yield f"http://127.0.0.1:{ports['GATEWAY_PORT']}", process


if __name__ == "__main__":
    sys.exit(main())
