"""A verified caller: the token's subject and the Civicflow roles its claims grant."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    CASEWORKER = "caseworker"  # runs eligibility checks and appeals, and reads those runs
    ANALYST = "analyst"  # runs impact analyses, and reads their reports and result pages
    AUDITOR = "auditor"  # reads everything, calls every /audit route, and runs nothing
    ADMIN = "admin"  # does everything


@dataclass(frozen=True)
class Principal:
    subject: str
    roles: frozenset[Role]

    def has_any(self, roles: frozenset[Role]) -> bool:
        return not self.roles.isdisjoint(roles)
