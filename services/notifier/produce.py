"""Producing the notifier's follow-up records durably (acks=all), retrying while the broker is away.

The notifier settles a record only after what follows from it is durable, so a produce that fails
is retried with capped exponential backoff with jitter (``NEWSALERT_BROKER_BACKOFF_*``) until it
succeeds or the notifier stops (the work is then left unsettled and redone after a restart). The
failures go to the process's broker outage report (one warning per outage and a summary a
minute), not a line per retry: thousands of lanes may be waiting at once.
"""

from __future__ import annotations

import asyncio
import logging

from newsalert.adapters.broker import Publisher, Record, Sent
from newsalert.adapters.durable import publish_until_acknowledged
from newsalert.domain.backoff import Backoff
from newsalert.errors import TransientError

log = logging.getLogger(__name__)

_DEFAULT_BACKOFF = Backoff(0.5, 5.0)


class DurablePublisher:
    """``publish`` until acknowledged or stopping; ``send`` to hand records over without waiting."""

    def __init__(self, publisher: Publisher, stopping: asyncio.Event, backoff: Backoff = _DEFAULT_BACKOFF) -> None:
        self._publisher = publisher
        self._stopping = stopping
        self._backoff = backoff

    async def publish(self, records: list[Record]) -> bool:
        """Produce ``records`` and wait for the broker; False if stopping before it took them."""
        return await publish_until_acknowledged(self._publisher, records, self._stopping, self._backoff)

    async def send(self, records: list[Record]) -> Sent | None:
        """Hand ``records`` to the producer without waiting for the broker; None when the broker
        refused them at once."""
        try:
            return await self._publisher.send_many(records)
        except TransientError:
            return None
