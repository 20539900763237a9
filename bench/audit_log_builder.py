"""Builds a large audit log fast for the proof benchmark: entries hashed in parallel, rows and tree loaded with COPY.

The leaves are hashed by the service's own code (audit_service.log.records.hash_entry), so the
log is exactly what a million appends would have left, without a million transactions.
"""

from __future__ import annotations

import csv
import io
import multiprocessing
import os
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from audit_service.log.records import AuditRecord, hash_entry
from audit_service.log.tables import MIGRATIONS, SCHEMA
from audit_service.tree.merkle import Frontier, frontier_nodes, node_hash
from civicflow.database import create_engine, run_migrations

CHUNK = 50_000
STEPS = ("fetch_citizen", "fetch_scheme_rules", "evaluate_rules", "make_decision")
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
COLUMNS = (
    "seq, instance_id, step_name, step_index, attempt, status, started_at, completed_at, "
    "input_json, output_json, error, actor, recorded_at, leaf_hash"
)


def build_log(database_url: str, size: int, *, progress: Callable[[str], None]) -> bytes:
    """Migrates the audit schema into `database_url` (an empty database) and fills it with `size` entries.

    Returns the root hash of the log.
    """
    owner = create_engine(database_url, application_name="bench-audit-builder", pool_size=1)
    try:
        run_migrations(owner, script_location=MIGRATIONS, schema=SCHEMA)
        leaves: list[bytes] = []
        raw = owner.raw_connection()
        try:
            cursor = raw.cursor()
            # spawn, not fork: the parent may already run gRPC threads, which fork does not carry over safely.
            spawn = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=os.cpu_count() or 1, mp_context=spawn) as pool:
                starts = range(0, size, CHUNK)
                for rows, chunk_leaves in pool.map(_entries, starts, [size] * len(starts)):
                    copy = f"COPY audit.audit_trail ({COLUMNS}) FROM STDIN WITH (FORMAT csv, FORCE_NOT_NULL (error))"
                    cursor.copy_expert(copy, io.StringIO(rows))
                    leaves += chunk_leaves
                    if len(leaves) == size or len(leaves) % (10 * CHUNK) == 0:
                        progress(f"audit log: {len(leaves):,} of {size:,} entries hashed and loaded")
            frontier = _copy_tree(cursor, leaves)
            root = frontier.root()  # the empty tree's root for size 0
            cursor.execute(
                "UPDATE audit.log_head SET tree_size = %s, root_hash = %s, frontier = %s",
                (size, root, frontier.hashes),
            )
            raw.commit()
        finally:
            raw.close()
        with owner.begin() as connection:
            connection.execute(sa.text("ANALYZE audit.audit_trail"))
            connection.execute(sa.text("ANALYZE audit.merkle_nodes"))
    finally:
        owner.dispose()
    return root


def _entries(start: int, size: int) -> tuple[str, list[bytes]]:
    """CSV rows and leaf hashes of entries start..start+CHUNK-1: four steps of one eligibility check each."""
    out = io.StringIO()
    writer = csv.writer(out)
    leaves = []
    for seq in range(start, min(start + CHUNK, size)):
        run, step = divmod(seq, len(STEPS))
        moment = EPOCH + timedelta(milliseconds=seq)
        record = AuditRecord(
            instance_id=uuid.UUID(int=run + 1),
            step_name=STEPS[step],
            step_index=step,
            attempt=1,
            status="success",
            started_at=moment,
            completed_at=moment,
            input_json=f'{{"citizen_id":"CIT-{run % 10_000_000:07d}"}}',
            output_json='{"decision":"ELIGIBLE"}' if step == 3 else '{"ok":true}',
            error="",
            actor="bench",
        )
        leaf = hash_entry(seq, record, moment)
        leaves.append(leaf)
        writer.writerow(
            [seq, record.instance_id, record.step_name, step, 1, "success", moment.isoformat(), moment.isoformat(),
             record.input_json, record.output_json, "", "bench", moment.isoformat(), "\\x" + leaf.hex()]
        )  # fmt: skip
    return out.getvalue(), leaves


def _copy_tree(cursor: object, leaves: list[bytes]) -> Frontier:
    """Every inner node, level by level, with COPY; returns the tree's right edge."""
    levels = [leaves]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append([node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)])
    for level, hashes in enumerate(levels[1:], start=1):
        cursor.copy_expert(  # type: ignore[attr-defined]
            "COPY audit.merkle_nodes (level, index, hash) FROM STDIN WITH (FORMAT csv)",
            io.StringIO("".join(_node_rows(level, hashes))),
        )
    size = len(leaves)
    return Frontier(size, [levels[node.level][node.index] for node in frontier_nodes(size)])


def _node_rows(level: int, hashes: list[bytes]) -> Iterator[str]:
    for index, hash_ in enumerate(hashes):
        yield f"{level},{index},\\x{hash_.hex()}\n"
