"""Reads the template directory again every few seconds, so that a new or changed file needs no restart.

Polling, not inotify: the directory is often a mounted volume or a Kubernetes ConfigMap (whose files
change by a symlink swap that inotify watchers miss), and reading a few small files every two
seconds costs next to nothing. A reload that fails (a disk error) is logged and tried again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from orchestrator.templates.registry import TemplateRegistry

log = logging.getLogger(__name__)


class TemplateWatch:
    def __init__(self, registry: TemplateRegistry, *, interval_seconds: float) -> None:
        self._registry = registry
        self._interval = interval_seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Starts watching; with an interval of 0 the watch is off and nothing starts."""
        if self._interval > 0:
            self._task = asyncio.create_task(self._watch(), name="template watch")

    async def stop(self, grace: float = 0.0) -> None:
        """Stops watching (at once: a reload cut short leaves the registry as it was)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await asyncio.to_thread(self._registry.reload)
            except Exception:  # a watch that died would leave the templates stale without a word
                log.exception("template reload failed; trying again")
