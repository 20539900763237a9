"""A blocking context manager (a database transaction) held across awaits, its blocking calls on worker threads."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager, ExitStack, asynccontextmanager
from typing import TypeVar

T = TypeVar("T")


@asynccontextmanager
async def held_in_threads(context: AbstractContextManager[T]) -> AsyncIterator[T]:
    """Enters `context` on a worker thread, and exits it on one when the block ends (with the block's error)."""
    stack = ExitStack()
    value = await asyncio.to_thread(stack.enter_context, context)
    try:
        yield value
    except BaseException as error:
        await asyncio.to_thread(stack.__exit__, type(error), error, error.__traceback__)
        raise
    await asyncio.to_thread(stack.close)
