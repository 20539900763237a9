"""The launcher's restart decisions: doubling backoff, a limit on quick failures in a row, no restart of a refusal."""

from __future__ import annotations

from civicflow.launch.restart_policy import RestartPolicy, RestartTracker
from civicflow.launch.settings import LauncherSettings

POLICY = RestartPolicy(backoff_seconds=1.0, max_backoff_seconds=5.0, max_quick_failures=5, quick_failure_seconds=30.0)


def test_quick_failures_double_the_delay_up_to_the_cap_then_the_launcher_gives_up() -> None:
    tracker = RestartTracker(POLICY)
    decisions = [tracker.decide("gateway", returncode=-9, uptime_seconds=1.0) for _ in range(5)]

    assert [decision.delay_seconds for decision in decisions[:4]] == [1.0, 2.0, 4.0, 5.0]
    assert [decision.restart for decision in decisions] == [True, True, True, True, False]
    assert decisions[-1].quick_failures == 5
    assert "5 times in a row within 30 s" in decisions[-1].reason


def test_a_process_that_ran_for_a_while_starts_a_new_count_and_backoff() -> None:
    tracker = RestartTracker(POLICY)
    for _ in range(4):
        tracker.decide("orchestrator", returncode=1, uptime_seconds=0.5)

    after_a_long_run = tracker.decide("orchestrator", returncode=1, uptime_seconds=600.0)

    assert after_a_long_run.restart and after_a_long_run.delay_seconds == 1.0
    assert tracker.decide("orchestrator", returncode=1, uptime_seconds=0.5).delay_seconds == 1.0


def test_each_process_has_its_own_count() -> None:
    tracker = RestartTracker(POLICY)
    for _ in range(4):
        tracker.decide("evaluator.0", returncode=-9, uptime_seconds=0.1)

    assert tracker.decide("evaluator.1", returncode=-9, uptime_seconds=0.1).delay_seconds == 1.0


def test_a_service_refusing_its_configuration_is_not_restarted() -> None:
    decision = RestartTracker(POLICY).decide("orchestrator", returncode=2, uptime_seconds=3.0)

    assert not decision.restart
    assert "refused its configuration" in decision.reason


def test_launcher_settings_build_the_policy_or_none_when_restarts_are_off() -> None:
    settings = LauncherSettings(restart_backoff_seconds=0.5, restart_max_quick_failures=3)
    policy = settings.restart_policy()

    assert policy is not None
    assert (policy.backoff_seconds, policy.max_quick_failures) == (0.5, 3)
    assert LauncherSettings(restart_services=False).restart_policy() is None
