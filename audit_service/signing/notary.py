"""Signs the log head into checkpoints on demand and keeps every checkpoint it signed."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from audit_service.log.canonical_entry import rfc3339
from audit_service.log.store import AuditStore
from audit_service.log.tables import CHECKPOINTS, LOG_HEAD, SIGNING_KEYS
from audit_service.signing.checkpoints import Checkpoint, sign_checkpoint
from audit_service.signing.keys import PublicKey, SigningKey


class Notary:
    """Blocking calls; run them off the event loop.

    `current()` answers the latest checkpoint unless the log grew since and that checkpoint is
    older than `min_interval`: then it signs the head first. So the answer always covers every
    entry committed `min_interval` before the call, and a busy log gains at most one
    checkpoint per interval per replica.
    """

    def __init__(self, store: AuditStore, key: SigningKey, *, min_interval: timedelta) -> None:
        self._store = store
        self._key = key
        self._min_interval = min_interval

    @property
    def key(self) -> SigningKey:
        return self._key

    def register_key(self) -> None:
        """Records this service's key among the log's keys (once), before it signs anything."""
        public = self._key.public
        with self._store.transaction() as connection:
            connection.execute(
                pg_insert(SIGNING_KEYS)
                .values(key_id=public.key_id, public_key=public.raw)
                .on_conflict_do_nothing(index_elements=["key_id"])
            )

    def public_keys(self) -> list[PublicKey]:
        """Every key that has signed checkpoints of this log, first used first."""
        with self._store.transaction() as connection:
            return registered_keys(connection)

    def current(self) -> Checkpoint:
        with self._store.transaction() as connection:
            # The clock is read before the head, so everything committed before the signed
            # timestamp is in the head this checkpoint signs.
            now = connection.execute(sa.select(sa.func.clock_timestamp())).scalar_one()
            head = connection.execute(sa.select(LOG_HEAD.c.tree_size, LOG_HEAD.c.root_hash)).one()
            latest = connection.execute(
                sa.select(CHECKPOINTS).order_by(CHECKPOINTS.c.tree_size.desc()).limit(1)
            ).one_or_none()
            if latest is not None and (
                latest.tree_size >= head.tree_size or now - latest.signed_at < self._min_interval
            ):
                return _checkpoint_from_row(latest)
            signed = sign_checkpoint(
                self._key, tree_size=head.tree_size, root_hash=bytes(head.root_hash), signed_at=now
            )
            # Another replica may have signed this size a moment ago; the stored one stands.
            connection.execute(
                pg_insert(CHECKPOINTS)
                .values(
                    tree_size=signed.tree_size,
                    root_hash=signed.root_hash,
                    signed_at=now,
                    signature=signed.signature,
                    key_id=signed.key_id,
                )
                .on_conflict_do_nothing(index_elements=["tree_size"])
            )
            stored = connection.execute(sa.select(CHECKPOINTS).where(CHECKPOINTS.c.tree_size == head.tree_size)).one()
        return _checkpoint_from_row(stored)

    def page(self, *, offset: int, limit: int) -> tuple[list[Checkpoint], int]:
        """Checkpoints ordered by tree size, and how many are stored in all."""
        with self._store.transaction() as connection:
            rows = connection.execute(
                sa.select(CHECKPOINTS).order_by(CHECKPOINTS.c.tree_size).offset(offset).limit(limit)
            ).all()
            total = connection.execute(sa.select(sa.func.count()).select_from(CHECKPOINTS)).scalar_one()
        return [_checkpoint_from_row(row) for row in rows], total


def _checkpoint_from_row(row: sa.Row[tuple[object, ...]]) -> Checkpoint:
    mapping = row._mapping
    return Checkpoint(
        tree_size=mapping["tree_size"],
        root_hash=bytes(mapping["root_hash"]),
        timestamp=rfc3339(mapping["signed_at"]),
        signature=bytes(mapping["signature"]),
        key_id=mapping["key_id"],
    )


def registered_keys(connection: sa.Connection) -> list[PublicKey]:
    rows = connection.execute(
        sa.select(SIGNING_KEYS.c.public_key).order_by(SIGNING_KEYS.c.first_used_at, SIGNING_KEYS.c.key_id)
    ).all()
    return [PublicKey.from_raw(bytes(row.public_key)) for row in rows]


def all_checkpoints(connection: sa.Connection) -> list[Checkpoint]:
    """Every stored checkpoint, smallest tree first (for the full verification, inside its snapshot)."""
    rows = connection.execute(sa.select(CHECKPOINTS).order_by(CHECKPOINTS.c.tree_size)).all()
    return [_checkpoint_from_row(row) for row in rows]
