"""REST routes, one module per resource; each translates a request into one orchestrator call."""

from __future__ import annotations

from typing import Any

from gateway.schemas import ErrorResponse


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can answer, all in the one error shape."""
    return {status: {"model": ErrorResponse} for status in statuses}
