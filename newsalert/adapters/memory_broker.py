"""``InMemoryBroker``: the broker boundary (``Publisher`` and ``TopicReader``) in memory.

For unit tests of the services' flows in milliseconds; integration and end-to-end tests keep the
real broker. Keys pick partitions as Kafka's default partitioner does (murmur2), every publish is
acknowledged at once, offsets count from 0 per partition, and ``fail_next`` makes the next
publishes raise ``TransientError`` as an unreachable broker would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence

from aiokafka.partitioner import DefaultPartitioner

from newsalert.adapters.broker import Delivered, Headers, Record
from newsalert.adapters.reading import Message
from newsalert.errors import TransientError


class Acknowledged:
    """What ``send_many`` returns: already acknowledged (``Sent``'s interface)."""

    def __init__(self, delivered: list[Delivered]) -> None:
        self._delivered = delivered

    def done(self) -> bool:
        return True

    async def wait(self) -> list[Delivered]:
        return self._delivered


class InMemoryBroker:
    """Topics as lists of ``Message`` per partition; a topic not created has one partition."""

    def __init__(self) -> None:
        self._topics: dict[str, list[list[Message]]] = {}
        self._partitioner = DefaultPartitioner()
        self._arrived = asyncio.Condition()
        self.fail_next = 0

    def create_topic(self, topic: str, partitions: int = 1) -> None:
        self._topics.setdefault(topic, [[] for _ in range(partitions)])

    def messages(self, topic: str) -> list[Message]:
        """Every record of ``topic``, partition by partition (for assertions)."""
        return [m for partition in self._topics.get(topic, []) for m in partition]

    # --- Publisher -----------------------------------------------------------------------------

    async def publish(self, topic: str, value: bytes | None, key: bytes | None = None, headers: Headers = ()) -> Delivered:
        return (await self.publish_many([Record(topic, value, key, headers)]))[0]

    async def publish_many(self, records: Iterable[Record]) -> list[Delivered]:
        if self.fail_next > 0:
            self.fail_next -= 1
            raise TransientError("the in-memory broker was told to fail this publish")
        delivered = [self._append(record) for record in records]
        async with self._arrived:
            self._arrived.notify_all()
        return delivered

    async def send_many(self, records: Iterable[Record]) -> Acknowledged:
        return Acknowledged(await self.publish_many(records))

    def _append(self, record: Record) -> Delivered:
        self.create_topic(record.topic)
        partitions = self._topics[record.topic]
        number = record.partition
        if number is None:
            numbers = list(range(len(partitions)))
            number = self._partitioner(record.key, numbers, numbers) if record.key is not None else 0
        offset = len(partitions[number])
        partitions[number].append(Message(record.topic, number, offset, record.key, record.value, tuple(record.headers)))
        return Delivered(record.topic, number, offset)

    # --- TopicReader ---------------------------------------------------------------------------

    async def partitions(self, topic: str) -> list[int]:
        return list(range(len(self._topics.get(topic, []))))

    async def bounds(self, topic: str, partition: int) -> tuple[int, int]:
        return 0, len(self._partition(topic, partition))

    async def read_to_end(
        self, topic: str, partitions: Sequence[int] | None = None, *, start: Mapping[int, int] | None = None,
        timeout_s: float = 30.0,
    ) -> AsyncIterator[Message]:
        numbers = list(partitions) if partitions is not None else await self.partitions(topic)
        ends = {n: len(self._partition(topic, n)) for n in numbers}
        for number in numbers:
            for message in self._partition(topic, number)[(start or {}).get(number, 0) : ends[number]]:
                yield message

    async def follow(
        self, topic: str, partitions: Sequence[int] | None = None, *, start: Mapping[int, int] | None = None
    ) -> AsyncIterator[Message]:
        numbers = list(partitions) if partitions is not None else (await self.partitions(topic) or [0])
        positions = {n: (start or {}).get(n, 0) for n in numbers}
        while True:
            progressed = False
            for number in numbers:
                held = self._partition(topic, number)
                while positions[number] < len(held):
                    positions[number] += 1
                    progressed = True
                    yield held[positions[number] - 1]
            if not progressed:  # nothing new in any partition: wait for a publish
                async with self._arrived:
                    await self._arrived.wait()

    def _partition(self, topic: str, number: int) -> list[Message]:
        partitions = self._topics.get(topic, [])
        return partitions[number] if number < len(partitions) else []
