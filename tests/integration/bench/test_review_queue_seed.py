"""The bulk-seeded review queue is one PostgreSQL accepts and the shape promised: every run waits for its own task."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from bench.review_queue_seed import ReviewQueueShape, seed_review_queue
from tests.support.databases import SetUpDatabase, connected, set_up_database

SHAPE = ReviewQueueShape(open_tasks=1000)


@pytest.fixture(scope="module")
def seeded(postgres_server_url: str) -> Iterator[SetUpDatabase]:
    """A database of its own: seeded runs cannot be deleted, and would be in other tests' queues."""
    with set_up_database(postgres_server_url, name_prefix="civicflow_test_review_seed") as database:
        seed_review_queue(
            database.admin_url, SHAPE, template_id="eligibility_review", template_version="1", steps_total=5
        )
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


def test_every_run_waits_unowned_and_unfinished_for_the_task_that_names_it(seeded: SetUpDatabase) -> None:
    with connected(seeded.admin_url) as connection:
        unmatched = connection.execute(
            sa.text(
                "SELECT count(*) FROM orchestrator.workflow_instances i"
                " FULL JOIN orchestrator.review_tasks t ON t.review_task_id = i.waiting_for_review"
                " WHERE i.status IS DISTINCT FROM 'waiting' OR i.owner IS NOT NULL OR i.completed_at IS NOT NULL"
                " OR t.instance_id IS DISTINCT FROM i.instance_id OR t.submitted_by <> i.actor"
                " OR t.citizen_id <> i.inputs->>'citizen_id' OR t.scheme_name <> i.inputs->>'scheme_name'"
            )
        ).scalar_one()
        runs = connection.execute(sa.text("SELECT count(*) FROM orchestrator.workflow_instances")).scalar_one()

    assert unmatched == 0
    assert runs == SHAPE.total


def test_about_half_the_queue_is_overdue_as_the_shape_says(seeded: SetUpDatabase) -> None:
    with connected(seeded.admin_url) as connection:
        overdue = connection.execute(
            sa.text("SELECT count(*) FROM orchestrator.review_tasks WHERE due_at <= now()")
        ).scalar_one()

    assert overdue == SHAPE.overdue_tasks


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
