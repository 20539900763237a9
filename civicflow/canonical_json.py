"""Canonical JSON (RFC 8785): one byte sequence per value, so snapshots can be hashed and compared."""

from __future__ import annotations

from typing import Any

import rfc8785


def canonical_json(value: Any) -> str:
    return rfc8785.dumps(value).decode("utf-8")
