"""The audit service without its Merkle log, as it was before: the baseline of the benchmark's overhead figure.

`python -m bench.plain_audit PORT DATABASE_URL` serves AppendEntries with one plain INSERT under
the same advisory lock and the same record checks, one transaction per call, and no hashing,
tree, head or group commit. It keeps its rows in its own schema, so it never touches a real log.
"""

from __future__ import annotations

import asyncio
import sys
import zlib
from collections.abc import Sequence

import grpc
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from audit_service.errors import STATUS_CODES
from audit_service.log.records import AuditRecord, StoredEntry, entry_to_proto, records_from_proto
from audit_service.log.tables import RECORD_COLUMNS
from audit_service.server import SERVICE_NAME
from civicflow.database import create_engine
from civicflow.grpc_errors import maps_errors
from civicflow.grpc_server import RunningServer, serve_until_terminated, start_grpc_server
from civicflow.logs import configure_logging
from civicflow.settings import ServiceSettings
from civicflow.tls import Identity, peer_identity
from civicflow.v1 import audit_pb2, audit_pb2_grpc

LOCK_KEY = zlib.crc32(b"bench.plain_audit.append")
# The audit record's columns; this baseline keeps no idempotency keys and no writers.
COLUMNS = tuple(name for name in RECORD_COLUMNS if name not in ("idempotency_key", "writer"))
SCHEMA_DDL = f"""
CREATE SCHEMA IF NOT EXISTS bench_plain_audit;
CREATE TABLE IF NOT EXISTS bench_plain_audit.audit_trail (
    seq bigint PRIMARY KEY, instance_id uuid NOT NULL, step_name text NOT NULL, step_index integer NOT NULL,
    attempt integer NOT NULL, status text NOT NULL, started_at timestamptz NOT NULL,
    completed_at timestamptz NOT NULL, input_json text NOT NULL, output_json text NOT NULL, error text NOT NULL,
    actor text NOT NULL, recorded_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS audit_trail_instance_seq_idx ON bench_plain_audit.audit_trail ({COLUMNS[0]}, seq);
"""


@maps_errors(STATUS_CODES)
class PlainAuditServicer(audit_pb2_grpc.AuditServiceServicer):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def AppendEntries(
        self, request: audit_pb2.AppendEntriesRequest, context: grpc.aio.ServicerContext
    ) -> audit_pb2.AppendEntriesResponse:
        records = records_from_proto(list(request.records), writer=peer_identity(context) or "")
        entries = await asyncio.to_thread(self._append, records)
        return audit_pb2.AppendEntriesResponse(entries=[entry_to_proto(entry) for entry in entries])

    def _append(self, records: Sequence[AuditRecord]) -> list[StoredEntry]:
        insert = sa.text(
            f"INSERT INTO bench_plain_audit.audit_trail (seq, {', '.join(COLUMNS)}) "
            f"VALUES (:seq, {', '.join(':' + name for name in COLUMNS)}) RETURNING recorded_at"
        )
        with self._engine.begin() as connection:
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(LOCK_KEY)))
            last = connection.execute(sa.text("SELECT coalesce(max(seq), 0) FROM bench_plain_audit.audit_trail"))
            first = last.scalar_one() + 1
            entries = []
            for offset, record in enumerate(records):
                values = {"seq": first + offset} | {name: getattr(record, name) for name in COLUMNS}
                recorded_at = connection.execute(insert, values).scalar_one()
                entries.append(StoredEntry(seq=first + offset, record=record, recorded_at=recorded_at, leaf_hash=b""))
        return entries


async def start(port: int, database_url: str) -> RunningServer:
    engine = create_engine(database_url, application_name="bench-plain-audit")
    with engine.begin() as connection:
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        connection.exec_driver_sql(SCHEMA_DDL)
    servicer = PlainAuditServicer(engine)
    running = await start_grpc_server(
        service_names=[SERVICE_NAME],
        register=lambda server: audit_pb2_grpc.add_AuditServiceServicer_to_server(servicer, server),
        host="127.0.0.1",
        port=port,
        # The same identity as the real audit service: TLS_* in the environment, as the launcher gives them.
        identity=Identity.load(ServiceSettings()),
        require_client_certificate=True,
    )

    async def dispose() -> None:
        await asyncio.to_thread(engine.dispose)

    running.cleanups.append(dispose)
    return running


def main() -> None:
    port, database_url = int(sys.argv[1]), sys.argv[2]
    configure_logging("bench.plain_audit")
    asyncio.run(serve_until_terminated(lambda: start(port, database_url), grace=5.0))


if __name__ == "__main__":
    main()
