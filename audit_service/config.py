"""Audit service settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from civicflow.auth.tokens import TokenSettings
from civicflow.database import DatabaseSettings
from civicflow.settings import GrpcServiceSettings


class AuditSettings(GrpcServiceSettings, TokenSettings, DatabaseSettings):
    audit_port: int = 50053
    # PKCS#8 PEM Ed25519 private key that signs checkpoints; the service refuses to start without it.
    audit_signing_key_path: Path
    # Create a new key at audit_signing_key_path when no file is there (local runs, compose); off in production.
    audit_signing_key_create: bool = False
    # A checkpoint is signed on demand when the log grew and the latest one is older than this.
    audit_checkpoint_interval_seconds: float = Field(default=1.0, ge=0.0)
    # Most records one group-commit transaction takes from concurrent appenders.
    audit_max_batch_records: int = Field(default=2000, ge=1)
    # GET /audit/verify answers from the last verification's report while the log has not grown and
    # the report is younger than this; 0 verifies on every call that finds no verification running.
    audit_verify_cache_seconds: float = Field(default=60.0, ge=0.0)
