"""Attempt records of delivered alerts, produced together once per event-loop tick.

A delivered alert does not hold its lane while its attempt record is acknowledged (acks=all, a
linger and a replica round trip): the record joins this tick's batch and the lane takes its next
alert. At the end of the tick the batch is handed to the producer in one call, and every alert in
it is counted and settled once the broker acknowledged the whole batch, so an offset is still
committed only after its attempt record is durable. If the acknowledgement fails, the batch is
published again and waited for (at least once: the attempts log may show a record twice).
One batch per tick instead of one send per alert saves a producer call, an acknowledgement wait
and a background task per alert.
"""

from __future__ import annotations

import asyncio
from typing import Callable

from newsalert.adapters.broker import Record
from newsalert.domain.delivery.follow_up import FollowUp
from newsalert.errors import TransientError
from newsalert.services.notifier.lanes import Lanes, Work
from newsalert.services.notifier.produce import DurablePublisher


class DeliveredLog:
    """Batches delivered alerts' attempt records; ``settled`` is called for each once durable."""

    def __init__(self, producer: DurablePublisher, lanes: Lanes, settled: Callable[[Work, FollowUp], None]) -> None:
        self._producer = producer
        self._lanes = lanes
        self._settled = settled
        self._batch: list[tuple[Work, FollowUp, list[Record]]] = []

    def add(self, work: Work, outcome: FollowUp, records: list[Record]) -> None:
        """Queue a delivered alert's records for this tick's batch (``work`` counts as in progress)."""
        self._lanes.hold(work)
        if not self._batch:
            asyncio.get_running_loop().call_soon(self._flush)
        self._batch.append((work, outcome, records))

    def _flush(self) -> None:
        batch, self._batch = self._batch, []
        self._lanes.track(self._produce(batch), "attempt-log")

    async def _produce(self, batch: list[tuple[Work, FollowUp, list[Record]]]) -> None:
        records = [record for _, _, rs in batch for record in rs]
        try:
            if not await self._acknowledged(records) and not await self._producer.publish(records):
                return  # stopping with the broker away: left unsettled, redone after restart
            for work, outcome, _ in batch:
                self._settled(work, outcome)
        finally:
            for work, _, _ in batch:
                self._lanes.release(work)

    async def _acknowledged(self, records: list[Record]) -> bool:
        """Hand ``records`` to the producer and wait for the broker; False if that failed."""
        sent = await self._producer.send(records)
        if sent is None:
            return False
        try:
            await sent.wait()
        except TransientError:
            return False
        return True
