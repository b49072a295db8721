"""``FollowedTopic``: a (compacted) topic read to its end at start, then followed in the background.

Each record goes to the owner's ``apply`` in offset order per partition; ``caught_up`` waits
(bounded) until everything published before the call has been applied.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from newsalert.adapters.reading import Message, TopicReader

_CAUGHT_UP_POLL_S = 0.05


class FollowedTopic:
    """One topic kept applied into its owner's state through a ``TopicReader``."""

    def __init__(self, reader: TopicReader, topic: str, apply: Callable[[Message], None]) -> None:
        self._reader = reader
        self._topic = topic
        self._apply = apply
        self._partitions: list[int] = []
        self._next: dict[int, int] = {}  # partition -> offset after the last record applied
        self._task: asyncio.Task[None] | None = None

    async def load(self, timeout_s: float) -> None:
        """Apply the topic from its beginning to its current end; ``TransientError`` past ``timeout_s``."""
        self._partitions = await self._reader.partitions(self._topic) or [0]
        async for message in self._reader.read_to_end(self._topic, self._partitions, timeout_s=timeout_s):
            self._take(message)

    def follow(self, name: str) -> None:
        """Go on applying new records in a background task (after ``load``)."""
        self._task = asyncio.create_task(self._follow(), name=name)

    async def caught_up(self, timeout_s: float) -> bool:
        """True once every record published before this call is applied (False after ``timeout_s``)."""
        bounds = {p: await self._reader.bounds(self._topic, p) for p in self._partitions}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while any(max(self._next.get(p, 0), first) < end for p, (first, end) in bounds.items()):
            if loop.time() > deadline:
                return False
            await asyncio.sleep(_CAUGHT_UP_POLL_S)
        return True

    async def stop(self) -> None:
        """Stop following."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _follow(self) -> None:
        async for message in self._reader.follow(self._topic, self._partitions, start=dict(self._next)):
            self._take(message)

    def _take(self, message: Message) -> None:
        self._apply(message)
        self._next[message.partition] = message.offset + 1
