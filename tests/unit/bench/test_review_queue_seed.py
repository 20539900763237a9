"""The review queue the benchmark seeds has the shape it promises: mostly open, a few claimed, spread over time."""

from __future__ import annotations

from bench.review_queue_seed import (
    ASSIGNEES,
    CREATED_SPREAD_SECONDS,
    OPEN_PER_CLAIMED,
    SCHEMES,
    ReviewQueueShape,
    review_step,
)


def test_runs_wait_at_benefit_applications_caseworker_review_after_the_five_steps_on_its_path() -> None:
    step = review_step()

    assert (step.template_id, step.template_version) == ("benefit_application", "1.0.0")
    assert (step.step_index, step.step_name, step.candidate_role) == (5, "caseworker_review", "caseworker")
    # fetch_citizen, fetch_scheme_rules, evaluate_rules, make_decision, the switch; then it and the final decision.
    assert (step.steps_completed, step.steps_total) == (5, 7)


def test_a_hundred_thousand_open_tasks_come_with_one_claimed_task_per_hundred() -> None:
    shape = ReviewQueueShape(open_tasks=100_000)

    assert shape.claimed_tasks == 100_000 // OPEN_PER_CLAIMED
    assert shape.total == 101_000
    counts = shape.tasks_by()
    assert sum(count for (_, status, _), count in counts.items() if status == "open") == 100_000


def test_a_small_queue_still_has_a_claimed_task_for_every_assignee() -> None:
    shape = ReviewQueueShape(open_tasks=10)

    held = {assignee for (_, status, assignee) in shape.tasks_by() if status == "claimed"}
    assert held == set(ASSIGNEES)


def test_open_tasks_have_no_assignee_and_claimed_ones_have_one() -> None:
    counts = ReviewQueueShape(open_tasks=1000).tasks_by()

    assert all((status == "open") == (assignee is None) for (_, status, assignee) in counts)


def test_every_scheme_has_its_share_of_the_queue() -> None:
    counts = ReviewQueueShape(open_tasks=1000).tasks_by()

    per_scheme = {scheme: sum(n for (name, _, _), n in counts.items() if name == scheme) for scheme in SCHEMES}
    assert max(per_scheme.values()) - min(per_scheme.values()) <= 1


def test_about_half_the_queue_is_overdue_and_creation_times_are_spread_over_the_fortnight() -> None:
    shape = ReviewQueueShape(open_tasks=10_000)

    assert 0.45 < shape.overdue_tasks / shape.total < 0.55
    ages = [shape.age_seconds(number) for number in range(1, shape.total + 1)]
    assert 0 <= min(ages) and max(ages) < CREATED_SPREAD_SECONDS
    assert ages != sorted(ages), "due order is not the order of insertion"
