"""The documents of the rules runs carry by reference: read once per stored version, kept, never stale."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from civicflow.canonical_json import canonical_json
from orchestrator.errors import StepFailedError
from orchestrator.schemes.store import SchemeVersionStore

# Documents of stored versions kept in memory: a few per scheme is plenty.
DOCUMENTS_KEPT = 256


class SchemeDocuments:
    """A run's rules value R names a stored version by scheme, number and rule_hash, without its document.

    That keeps a decision's journal and audit records the same size whatever its document's;
    the document is in the database (and, for a version drafted through the API, in its audit
    entry). The database refuses any change to a version (migration 0008), so a document read
    once is kept as it is.
    """

    def __init__(self, store: SchemeVersionStore) -> None:
        self._store = store
        # (scheme, version) -> the version's document, least recently used first.
        self._kept: OrderedDict[tuple[str, int], _Kept] = OrderedDict()

    async def with_document(self, rules: Mapping[str, Any]) -> dict[str, Any]:
        """R with its document: the one a proposal (version 0) carries, else the stored version's.

        StepFailedError, for the task that asks, if the version is not stored or its rule_hash
        is not the one R names.
        """
        if "document" in rules:
            return dict(rules)
        return {**rules, "document": (await self._stored(rules)).document}

    async def document_json(self, rules: Mapping[str, Any]) -> str:
        """The document's canonical JSON (RFC 8785), as the evaluator takes it; made once per stored version."""
        if "document" in rules:
            return canonical_json(rules["document"])
        return (await self._stored(rules)).document_json

    async def _stored(self, rules: Mapping[str, Any]) -> _Kept:
        key = (str(rules["scheme_name"]), int(rules["version"]))
        kept = self._kept.get(key)
        if kept is None:
            stored = await asyncio.to_thread(self._store.version, *key)
            if stored is None or stored.document is None:
                raise StepFailedError(f"the rules of the run, version {key[1]} of {key[0]}, are not stored")
            kept = self._kept[key] = _Kept(stored.rule_hash, stored.document, canonical_json(stored.document))
            while len(self._kept) > DOCUMENTS_KEPT:
                self._kept.popitem(last=False)
        else:
            self._kept.move_to_end(key)
        if kept.rule_hash != rules["rule_hash"]:
            raise StepFailedError(
                f"version {key[1]} of {key[0]} has rule_hash {kept.rule_hash}, not the {rules['rule_hash']} of the run"
            )
        return kept


@dataclass(frozen=True)
class _Kept:
    rule_hash: str
    document: Mapping[str, Any]
    document_json: str
