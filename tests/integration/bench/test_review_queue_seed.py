"""The bulk-seeded review queue is one PostgreSQL accepts and the shape promised: every run waits for its own task."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from bench.review_queue_seed import ReviewQueueShape, review_step, seed_review_queue
from orchestrator.reviews.store import review_task_id
from tests.support.databases import SetUpDatabase, connected, set_up_database

SHAPE = ReviewQueueShape(open_tasks=1000)


@pytest.fixture(scope="module")
def seeded(postgres_server_url: str) -> Iterator[SetUpDatabase]:
    """A database of its own: seeded runs cannot be deleted, and would be in other tests' queues."""
    with set_up_database(postgres_server_url, name_prefix="civicflow_test_review_seed") as database:
        seed_review_queue(database.admin_url, SHAPE, review_step())
        yield database


def test_the_queue_holds_the_tasks_promised_by_scheme_status_and_assignee(seeded: SetUpDatabase) -> None:
    with connected(seeded.admin_url) as connection:
        rows = connection.execute(
            sa.text(
                "SELECT scheme_name, status, assignee, count(*) FROM orchestrator.review_tasks"
                " GROUP BY scheme_name, status, assignee"
            )
        ).all()

    assert {(scheme, status, assignee): count for scheme, status, assignee, count in rows} == SHAPE.tasks_by()


def test_every_run_waits_at_the_templates_review_step_for_the_task_that_names_it(seeded: SetUpDatabase) -> None:
    step = review_step()
    with connected(seeded.admin_url) as connection:
        unmatched = connection.execute(
            sa.text(
                "SELECT count(*) FROM orchestrator.workflow_instances i"
                " FULL JOIN orchestrator.review_tasks t ON t.review_task_id = i.waiting_for_review"
                " WHERE i.status IS DISTINCT FROM 'waiting' OR i.owner IS NOT NULL OR i.completed_at IS NOT NULL"
                " OR t.instance_id IS DISTINCT FROM i.instance_id OR t.submitted_by <> i.actor"
                " OR t.citizen_id <> i.inputs->>'citizen_id' OR t.scheme_name <> i.inputs->>'scheme_name'"
                " OR i.template_id <> :template OR i.template_version <> :version OR t.step_index <> :index"
                " OR t.step_name <> :name OR i.steps_completed <> :completed OR i.steps_total <> :total"
                " OR i.outputs->'recommendation'->>'citizen_id' <> t.citizen_id"
            ),
            {
                "template": step.template_id,
                "version": step.template_version,
                "index": step.step_index,
                "name": step.step_name,
                "completed": step.steps_completed,
                "total": step.steps_total,
            },
        ).scalar_one()
        runs = connection.execute(sa.text("SELECT count(*) FROM orchestrator.workflow_instances")).scalar_one()

    assert unmatched == 0
    assert runs == SHAPE.total


def test_each_task_has_the_id_the_orchestrator_derives_from_its_run_and_step(seeded: SetUpDatabase) -> None:
    with connected(seeded.admin_url) as connection:
        rows = connection.execute(
            sa.text("SELECT review_task_id, instance_id, step_index FROM orchestrator.review_tasks")
        ).all()

    assert len(rows) == SHAPE.total
    assert all(task == review_task_id(run, step) for task, run, step in rows)


def test_the_overdue_half_of_the_queue_was_escalated_when_it_fell_due(seeded: SetUpDatabase) -> None:
    with connected(seeded.admin_url) as connection:
        overdue, escalated_when_due, waiting_escalation = connection.execute(
            sa.text(
                "SELECT count(*) FILTER (WHERE due_at <= now()),"
                " count(*) FILTER (WHERE escalated_at = due_at),"
                " count(*) FILTER (WHERE escalated_at IS NULL AND due_at < now())"
                " FROM orchestrator.review_tasks"
            )
        ).one()

    assert overdue == escalated_when_due == SHAPE.overdue_tasks
    assert waiting_escalation == 0, "the orchestrator's sweep finds nothing to escalate"


def test_each_task_is_one_revision_on_for_its_claim_and_one_for_its_escalation(seeded: SetUpDatabase) -> None:
    with connected(seeded.admin_url) as connection:
        wrong = connection.execute(
            sa.text(
                "SELECT count(*) FROM orchestrator.review_tasks"
                " WHERE revision <> (status = 'claimed')::int + (escalated_at IS NOT NULL)::int"
            )
        ).scalar_one()

    assert wrong == 0


def test_the_queue_page_is_read_from_its_index_not_by_sorting_the_table(seeded: SetUpDatabase) -> None:
    """The listing's statement (ORDER BY due_at, review_task_id), on the seeded statistics, walks the index."""
    with connected(seeded.admin_url) as connection:
        plan = connection.execute(
            sa.text(
                "EXPLAIN SELECT * FROM orchestrator.review_tasks WHERE status = 'open'"
                " ORDER BY due_at, review_task_id OFFSET 0 LIMIT 50"
            )
        ).scalars()
        text = "\n".join(plan)

    assert "reviews_by_status_due" in text, text
