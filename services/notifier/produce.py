"""Producing the notifier's follow-up records durably (acks=all), retrying while the broker is away.

The notifier settles a record only after what follows from it is durable, so a produce that fails
is retried with a capped back-off until it succeeds or the notifier stops (the work is then left
unsettled and redone after a restart).
"""

from __future__ import annotations

import asyncio
import logging

from newsalert.adapters.broker import Publisher, Record, Sent
from newsalert.errors import TransientError

log = logging.getLogger(__name__)

_BACKOFF_S = (0.5, 1, 2, 5, 10)


class DurablePublisher:
    """``publish`` until acknowledged or stopping; ``send`` to hand records over without waiting."""

    def __init__(self, publisher: Publisher, stopping: asyncio.Event) -> None:
        self._publisher = publisher
        self._stopping = stopping

    async def publish(self, records: list[Record]) -> bool:
        """Produce ``records`` and wait for the broker; False if stopping before it took them."""
        tries = 0
        while True:
            try:
                await self._publisher.publish_many(records)
                return True
            except TransientError as exc:
                if self._stopping.is_set():
                    return False
                backoff = _BACKOFF_S[min(tries, len(_BACKOFF_S) - 1)]
                tries += 1
                log.warning("the broker did not take %d delivery record(s) (%s); retrying in %.1f s", len(records), exc, backoff)
                try:  # wakes early on stop, so a stop never waits for the back-off
                    await asyncio.wait_for(self._stopping.wait(), timeout=backoff)
                except asyncio.TimeoutError:
                    pass

    async def send(self, records: list[Record]) -> Sent | None:
        """Hand ``records`` to the producer without waiting for the broker; None when the
        publisher cannot (no ``send_many``, or the broker refused at once)."""
        send_many = getattr(self._publisher, "send_many", None)
        if send_many is None:
            return None
        try:
            return await send_many(records)
        except TransientError:
            return None
