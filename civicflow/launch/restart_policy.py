"""When the launcher restarts a service that died: a backoff that doubles, and a limit on quick failures in a row."""

from __future__ import annotations

from dataclasses import dataclass, field

# A service exits 2 when it refuses its configuration (a bad scheme seed file, say): a restart cannot help.
# A template file is never such a refusal: the orchestrator refuses the file alone and serves.
EXIT_BAD_CONFIGURATION = 2


@dataclass(frozen=True)
class RestartPolicy:
    """Like compose's `restart: unless-stopped`, with Kubernetes' crash-loop backoff and a limit.

    A process that ran for less than `quick_failure_seconds` failed quickly; after
    `max_quick_failures` quick failures in a row the launcher gives up on it. A process that
    ran longer starts a new count and a new backoff: it worked for a while, then died.
    """

    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 30.0
    max_quick_failures: int = 5
    quick_failure_seconds: float = 30.0
    not_restarted_returncodes: frozenset[int] = field(default_factory=lambda: frozenset({EXIT_BAD_CONFIGURATION}))


@dataclass(frozen=True)
class RestartDecision:
    restart: bool
    delay_seconds: float
    # Quick failures in a row, this one included.
    quick_failures: int
    # Why the process is not restarted; empty when it is.
    reason: str = ""


class RestartTracker:
    """Decides, process by process, whether a death is followed by a restart and after how long."""

    def __init__(self, policy: RestartPolicy) -> None:
        self._policy = policy
        self._quick_failures: dict[str, int] = {}

    def decide(self, name: str, *, returncode: int, uptime_seconds: float) -> RestartDecision:
        policy = self._policy
        if returncode in policy.not_restarted_returncodes:
            return RestartDecision(
                restart=False,
                delay_seconds=0.0,
                quick_failures=self._quick_failures.get(name, 0),
                reason=f"exit status {returncode} means it refused its configuration; a restart would not help",
            )
        quick = uptime_seconds < policy.quick_failure_seconds
        failures = self._quick_failures.get(name, 0) + 1 if quick else 0
        self._quick_failures[name] = failures
        if failures >= policy.max_quick_failures:
            return RestartDecision(
                restart=False,
                delay_seconds=0.0,
                quick_failures=failures,
                reason=f"it died {failures} times in a row within {policy.quick_failure_seconds:g} s of starting",
            )
        delay = min(policy.backoff_seconds * 2 ** max(failures - 1, 0), policy.max_backoff_seconds)
        return RestartDecision(restart=True, delay_seconds=delay, quick_failures=failures)
