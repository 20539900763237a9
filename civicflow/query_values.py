"""Query strings without their values, for access logs and traces: a query may name a citizen or a subject.

`GET /workflows?citizen_id=CIT-0000042` finds a person's runs; the parameter's name says what was asked,
its value is personal data that neither log storage nor a trace collector needs.
"""

from __future__ import annotations

from urllib.parse import parse_qsl


def without_query_values(target: str) -> str:
    """`/workflows?citizen_id=CIT-1&limit=5` as `/workflows?citizen_id=…&limit=…`; a target without a query as is."""
    path, separator, query = target.partition("?")
    if not separator:
        return target
    names = [name for name, _ in parse_qsl(query, keep_blank_values=True)]
    return f"{path}?{'&'.join(f'{name}=…' for name in names)}" if names else path
