"""The audit schema's tables as typed models; the migrations create them, the service only reads and appends."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from audit_service.log.records import AuditRecord, StoredEntry

SCHEMA = "audit"
# The Alembic scripts that create and upgrade these tables.
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class Base(DeclarativeBase):
    metadata = sa.MetaData(schema=SCHEMA)


class AuditTrailRow(Base):
    """One entry of the log: seq is its leaf index, leaf_hash covers the fields canonical_entry lists."""

    __tablename__ = "audit_trail"

    seq: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    instance_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    step_name: Mapped[str] = mapped_column(sa.Text)
    step_index: Mapped[int] = mapped_column(sa.Integer)
    attempt: Mapped[int] = mapped_column(sa.Integer)
    status: Mapped[str] = mapped_column(sa.Text)
    started_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    completed_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    input_json: Mapped[str] = mapped_column(sa.Text)
    output_json: Mapped[str] = mapped_column(sa.Text)
    error: Mapped[str] = mapped_column(sa.Text)
    actor: Mapped[str] = mapped_column(sa.Text)
    recorded_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    leaf_hash: Mapped[bytes] = mapped_column(sa.LargeBinary)
    idempotency_key: Mapped[str | None] = mapped_column(sa.Text)
    # The service that appended the entry (its certificate's name); "" for entries older than that.
    writer: Mapped[str] = mapped_column(sa.Text, server_default="")


class MerkleNodeRow(Base):
    """A complete perfect subtree of level >= 1, covering leaves [index * 2**level, (index + 1) * 2**level)."""

    __tablename__ = "merkle_nodes"

    level: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True)
    index: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    hash: Mapped[bytes] = mapped_column(sa.LargeBinary)


class LogHeadRow(Base):
    """The single row the appends move forward: size, root and right edge of the tree."""

    __tablename__ = "log_head"

    singleton: Mapped[bool] = mapped_column(sa.Boolean, primary_key=True)
    tree_size: Mapped[int] = mapped_column(sa.BigInteger)
    root_hash: Mapped[bytes] = mapped_column(sa.LargeBinary)
    frontier: Mapped[list[bytes]] = mapped_column(sa.ARRAY(sa.LargeBinary))


class CheckpointRow(Base):
    __tablename__ = "checkpoints"

    tree_size: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(sa.LargeBinary)
    signed_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    signature: Mapped[bytes] = mapped_column(sa.LargeBinary)
    key_id: Mapped[str] = mapped_column(sa.Text)


class SigningKeyRow(Base):
    """A key that has signed checkpoints of this log; a rotated key stays, so that its checkpoints still verify."""

    __tablename__ = "signing_keys"

    key_id: Mapped[str] = mapped_column(sa.Text, primary_key=True)
    public_key: Mapped[bytes] = mapped_column(sa.LargeBinary)
    first_used_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())


AUDIT_TRAIL = cast(sa.Table, AuditTrailRow.__table__)
MERKLE_NODES = cast(sa.Table, MerkleNodeRow.__table__)
LOG_HEAD = cast(sa.Table, LogHeadRow.__table__)
CHECKPOINTS = cast(sa.Table, CheckpointRow.__table__)
SIGNING_KEYS = cast(sa.Table, SigningKeyRow.__table__)

RECORD_COLUMNS = (
    "instance_id",
    "step_name",
    "step_index",
    "attempt",
    "status",
    "started_at",
    "completed_at",
    "input_json",
    "output_json",
    "error",
    "actor",
    "idempotency_key",
    "writer",
)


def entry_from_mapping(mapping: Mapping[Any, Any]) -> StoredEntry:
    """A StoredEntry from every audit_trail column of a row, by name."""
    return StoredEntry(
        seq=mapping["seq"],
        record=AuditRecord(**{name: mapping[name] for name in RECORD_COLUMNS}),
        recorded_at=mapping["recorded_at"],
        leaf_hash=bytes(mapping["leaf_hash"]),
    )
