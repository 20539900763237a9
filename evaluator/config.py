"""Evaluator settings."""

from __future__ import annotations

from civicflow.settings import ServiceSettings


class EvaluatorSettings(ServiceSettings):
    evaluator_port: int = 50052
