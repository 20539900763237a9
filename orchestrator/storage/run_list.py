"""The run list: runs newest first, filtered, a page at a time after a cursor. Blocking: call through asyncio.to_thread.

Keyset paging: a page is the runs strictly older, in (created_at, instance_id) order, than the
last run of the page before, so that a page costs the same however deep it is and runs started
meanwhile never shift a page nor appear twice. Each filter has an index that ends in that order
(migration 0010); the statement names `inputs->>'citizen_id'` exactly as its index does.
"""

from __future__ import annotations

import base64
import re
import struct
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from civicflow.grpc_errors import FieldProblem
from civicflow.input_limits import InvalidInputError
from orchestrator.storage.statements import single_statements

_COLUMNS = "instance_id, template_id, template_version, status, actor, created_at, completed_at"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A cursor is 8 bytes of microseconds since the epoch and the 16 bytes of the run's id: 32 base64url characters.
_CURSOR_LAYOUT = struct.Struct(">q16s")
_CURSOR_TEXT = re.compile(r"[A-Za-z0-9_-]{32}")


@dataclass(frozen=True)
class RunCursor:
    """Where a page ends: the list goes on with the runs older than this one."""

    created_at: datetime
    instance_id: uuid.UUID

    def encode(self) -> str:
        micros = (self.created_at - _EPOCH) // timedelta(microseconds=1)
        return base64.urlsafe_b64encode(_CURSOR_LAYOUT.pack(micros, self.instance_id.bytes)).decode("ascii")

    @classmethod
    def decode(cls, field: str, text: str) -> RunCursor:
        """The cursor a previous page gave; InvalidInputError naming `field` for anything else."""
        try:
            if not _CURSOR_TEXT.fullmatch(text):
                raise ValueError(text)
            micros, raw_id = _CURSOR_LAYOUT.unpack(base64.urlsafe_b64decode(text))
            return cls(_EPOCH + timedelta(microseconds=micros), uuid.UUID(bytes=raw_id))
        except (ValueError, OverflowError, struct.error):
            raise InvalidInputError(
                [FieldProblem(field, "is not a cursor this list gave (pass next_cursor as it was)")]
            ) from None


@dataclass(frozen=True)
class RunFilter:
    """Which runs a page lists; None is any. `template_ids` is what the caller may read: empty lists nothing."""

    template_ids: Collection[str] | None = None
    status: str | None = None
    citizen_id: str | None = None
    actor: str | None = None
    created_after: datetime | None = None  # inclusive
    created_before: datetime | None = None  # exclusive


@dataclass(frozen=True)
class RunSummary:
    instance_id: uuid.UUID
    template_id: str
    template_version: str
    status: str
    actor: str
    created_at: datetime
    completed_at: datetime | None

    @property
    def cursor(self) -> RunCursor:
        return RunCursor(self.created_at, self.instance_id)


@dataclass(frozen=True)
class RunPage:
    items: list[RunSummary]
    # Where the next page starts; None on the last page.
    next_cursor: RunCursor | None


class RunList:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def page(self, runs: RunFilter, *, after: RunCursor | None, limit: int) -> RunPage:
        if runs.template_ids is not None and not runs.template_ids:
            return RunPage(items=[], next_cursor=None)
        sql, params = list_statement(runs, after=after, limit=limit)
        with single_statements(self._engine) as statements:
            rows = statements.rows(sql, params)
        items = [RunSummary(**row._asdict()) for row in rows[:limit]]
        # One row more than the page says whether there is a next page, without a count.
        return RunPage(items=items, next_cursor=items[-1].cursor if len(rows) > limit else None)


def list_statement(runs: RunFilter, *, after: RunCursor | None, limit: int) -> tuple[str, dict[str, Any]]:
    """The SELECT of one page (and one run more) and its parameters; its plans are tested (EXPLAIN) as they stand."""
    conditions: list[str] = []
    params: dict[str, Any] = {"limit": limit + 1}
    if runs.template_ids is not None:
        templates = sorted(runs.template_ids)
        # One template is an equality, which the planner always serves from runs_by_template.
        if len(templates) == 1:
            conditions.append("template_id = %(template_id)s")
            params["template_id"] = templates[0]
        else:
            conditions.append("template_id = ANY(%(template_ids)s)")
            params["template_ids"] = templates
    for condition, name, value in (
        ("status = %(status)s", "status", runs.status),
        ("inputs->>'citizen_id' = %(citizen_id)s", "citizen_id", runs.citizen_id),
        ("actor = %(actor)s", "actor", runs.actor),
        ("created_at >= %(created_after)s", "created_after", runs.created_after),
        ("created_at < %(created_before)s", "created_before", runs.created_before),
    ):
        if value is not None:
            conditions.append(condition)
            params[name] = value
    if after is not None:
        # A row comparison: an index range in (created_at DESC, instance_id DESC) order.
        conditions.append("(created_at, instance_id) < (%(after_created_at)s, %(after_instance_id)s)")
        params |= {"after_created_at": after.created_at, "after_instance_id": after.instance_id}
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    sql = (
        f"SELECT {_COLUMNS} FROM orchestrator.workflow_instances {where}"
        " ORDER BY created_at DESC, instance_id DESC LIMIT %(limit)s"
    )
    return sql, params
