"""The audit entries of scheme changes: one when a version is drafted, one when it is published.

The audit log keys entries by an instance id; a scheme version's is uuid5(SCHEME_AUDIT_NAMESPACE,
"scheme:<name>:<version>"), so that anyone can find a version's entries from its name and number.
Each record is made from the stored row alone, so the same row always yields the same record.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from civicflow.canonical_json import canonical_json
from civicflow.timestamps import to_timestamp
from civicflow.v1 import audit_pb2
from orchestrator.schemes.model import SchemeVersion

# Fixed for good: changing it would lose every version's entries.
SCHEME_AUDIT_NAMESPACE = uuid.UUID("5c4e3b2a-7d1f-5e0a-9b8c-6f2d1a0e4c37")
CREATE_STEP = "create_scheme_version"
PUBLISH_STEP = "publish_scheme_version"


def audit_instance_id(scheme_name: str, version: int) -> uuid.UUID:
    return uuid.uuid5(SCHEME_AUDIT_NAMESPACE, f"scheme:{scheme_name}:{version}")


def creation_record(version: SchemeVersion) -> audit_pb2.AuditRecord:
    """What was drafted, by whom: the whole document, its rule_hash and the version number it got."""
    assert version.document is not None
    return _record(
        version,
        step_name=CREATE_STEP,
        step_index=0,
        at=version.created_at,
        actor=version.created_by,
        input={"scheme_name": version.scheme_name, "document": version.document},
        output={
            "scheme_name": version.scheme_name,
            "version": version.version,
            "status": "draft",
            "rule_hash": version.rule_hash,
        },
    )


def publication_record(version: SchemeVersion) -> audit_pb2.AuditRecord:
    """What was published, from when, by whom; the rule_hash names the document the creation entry holds."""
    assert version.effective_from is not None and version.published_at is not None and version.published_by
    effective_from = version.effective_from.isoformat()
    return _record(
        version,
        step_name=PUBLISH_STEP,
        step_index=1,
        at=version.published_at,
        actor=version.published_by,
        input={"scheme_name": version.scheme_name, "version": version.version, "effective_from": effective_from},
        output={
            "scheme_name": version.scheme_name,
            "version": version.version,
            "status": "published",
            "effective_from": effective_from,
            "rule_hash": version.rule_hash,
            "created_by": version.created_by,
        },
    )


def _record(
    version: SchemeVersion,
    *,
    step_name: str,
    step_index: int,
    at: datetime,
    actor: str,
    input: dict[str, Any],
    output: dict[str, Any],
) -> audit_pb2.AuditRecord:
    instance_id = audit_instance_id(version.scheme_name, version.version)
    return audit_pb2.AuditRecord(
        instance_id=str(instance_id),
        step_name=step_name,
        step_index=step_index,
        attempt=1,
        status=audit_pb2.STEP_STATUS_SUCCESS,
        started_at=to_timestamp(at),
        completed_at=to_timestamp(at),
        input_json=canonical_json(input),
        output_json=canonical_json(output),
        actor=actor,
        # The change's time is in the key: a change rolled back after its entry was stored (see
        # service.py) leaves that entry under a key no later change of the same version reuses.
        idempotency_key=f"{instance_id}/{step_name}/{at.timestamp():.6f}",
    )
