"""How an impact analysis's fan-out is cut: the `config` of an `evaluate_population` step in a template."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class FanOutConfig(BaseModel):
    """None of it changes the results, only how fast they come and how much memory they take."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Citizens per stream message: ~1,000 amortises per-message cost while keeping messages small.
    batch_size: int = Field(default=1000, ge=1, le=100_000)
    # Concurrent EvaluateStream calls; spread over evaluator replicas by round_robin.
    streams: int = Field(default=4, ge=1, le=64)
    # Batches in flight per stream before the sender waits for answers (flow control).
    window: int = Field(default=4, ge=1, le=64)
    # Results are sent to PostgreSQL with COPY in chunks of about this many bytes.
    flush_bytes: int = Field(default=1024 * 1024, ge=1024)
    # A batch unanswered this long means its replica stalled: its stream is replaced and the
    # batch sent again. Unset: the orchestrator's downstream_timeout_seconds.
    batch_timeout_seconds: float | None = Field(default=None, gt=0)
    # Broken or stalled streams replaced in one run before the step fails.
    max_stream_restarts: int = Field(default=8, ge=0, le=1000)

    def batch_timeout(self, default: float) -> float:
        return self.batch_timeout_seconds or default
