"""The broker boundary's reading side: a topic read to its end offsets, or read and then followed.

``TopicReader`` is what the services need to read a topic back (compacted state, attempt
history, claims); ``KafkaReader`` implements it on one group-less aiokafka consumer and
``newsalert.adapters.memory_broker.InMemoryBroker`` in memory for unit tests.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from newsalert.adapters import kafka_clients
from newsalert.config import Settings
from newsalert.errors import TransientError

log = logging.getLogger(__name__)

_POLL_MS = 500
_FOLLOW_RETRY_S = (0.5, 1.0, 2.0, 5.0)  # the broker away while following: capped backoff


@dataclass(frozen=True)
class Message:
    """One record read from a topic."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None  # None: a tombstone
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp_ms: int | None = None


class TopicReader(Protocol):
    """Reading a topic back. Every method raises ``TransientError`` when the broker fails it."""

    async def partitions(self, topic: str) -> list[int]:
        """The topic's partition numbers; empty when the topic does not exist."""
        ...

    async def bounds(self, topic: str, partition: int) -> tuple[int, int]:
        """(first offset still held, end offset) of one partition."""
        ...

    def read_to_end(
        self, topic: str, partitions: Sequence[int] | None = None, *, start: Mapping[int, int] | None = None,
        timeout_s: float = 30.0,
    ) -> AsyncIterator[Message]:
        """The records from ``start`` (default: the beginning) up to the end offsets taken when
        called, partition by partition in order; ``TransientError`` past ``timeout_s``."""
        ...

    def follow(
        self, topic: str, partitions: Sequence[int] | None = None, *, start: Mapping[int, int] | None = None
    ) -> AsyncIterator[Message]:
        """``read_to_end`` (no time limit), then every new record as it arrives, until cancelled."""
        ...


class KafkaReader:
    """``TopicReader`` on one group-less aiokafka consumer (``async with KafkaReader(...)``)."""

    def __init__(self, settings: Settings, client_id: str = "newsalert-reader", **options: Any) -> None:
        self._bootstrap = settings.kafka_bootstrap
        self._consumer: AIOKafkaConsumer = kafka_clients.consumer(
            settings, client_id=client_id, group_id=None, enable_auto_commit=False, **options
        )

    async def start(self) -> None:
        """Connect; ``TransientError`` when the broker is not reachable."""
        try:
            await self._consumer.start()
        except KafkaError as exc:
            await self._consumer.stop()
            raise TransientError(f"Kafka at {self._bootstrap} is not reachable: {exc}") from exc

    async def stop(self) -> None:
        await self._consumer.stop()

    async def __aenter__(self) -> KafkaReader:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def partitions(self, topic: str) -> list[int]:
        try:
            # A group-less consumer has no public call returning fresh metadata for a topic it was
            # not assigned; aiokafka is pinned (0.14.0), so its client's fetch is used directly.
            cluster = await self._consumer._client.fetch_all_metadata()  # noqa: SLF001
        except KafkaError as exc:
            raise TransientError(f"cannot read the partitions of {topic}: {exc!r}") from exc
        return sorted(cluster.partitions_for_topic(topic) or ())

    async def bounds(self, topic: str, partition: int) -> tuple[int, int]:
        tp = TopicPartition(topic, partition)
        try:
            return (await self._consumer.beginning_offsets([tp]))[tp], (await self._consumer.end_offsets([tp]))[tp]
        except (KafkaError, asyncio.TimeoutError) as exc:
            raise TransientError(f"cannot read the offsets of {topic}[{partition}]: {exc!r}") from exc

    async def read_to_end(
        self, topic: str, partitions: Sequence[int] | None = None, *, start: Mapping[int, int] | None = None,
        timeout_s: float = 30.0,
    ) -> AsyncIterator[Message]:
        deadline = time.monotonic() + timeout_s
        try:
            tps = await self._assign(topic, partitions, start)
            ends = await self._consumer.end_offsets(tps)
            left = [tp for tp in tps if await self._consumer.position(tp) < ends[tp]]
            while left:
                if time.monotonic() > deadline:
                    raise TransientError(f"reading {topic} did not reach its end offsets within {timeout_s:g} s")
                batches = await self._consumer.getmany(*left, timeout_ms=_POLL_MS)
                for tp, records in batches.items():
                    for record in records:
                        if record.offset < ends[tp]:
                            yield _message(record)
                left = [tp for tp in left if await self._consumer.position(tp) < ends[tp]]
        except (KafkaError, asyncio.TimeoutError) as exc:
            raise TransientError(f"reading {topic} failed: {exc!r}") from exc

    async def follow(
        self, topic: str, partitions: Sequence[int] | None = None, *, start: Mapping[int, int] | None = None
    ) -> AsyncIterator[Message]:
        async for message in self.read_to_end(topic, partitions, start=start, timeout_s=float("inf")):
            yield message
        failures = 0
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=_POLL_MS)
            except KafkaError as exc:
                pause = _FOLLOW_RETRY_S[min(failures, len(_FOLLOW_RETRY_S) - 1)]
                failures += 1
                log.warning("following %s failed (%r); again in %g s", topic, exc, pause)
                await asyncio.sleep(pause)
                continue
            failures = 0
            for records in batches.values():
                for record in records:
                    yield _message(record)

    async def _assign(self, topic: str, partitions: Sequence[int] | None, start: Mapping[int, int] | None) -> list[TopicPartition]:
        numbers = list(partitions) if partitions is not None else await self.partitions(topic) or [0]
        tps = [TopicPartition(topic, p) for p in numbers]
        self._consumer.assign(tps)
        await self._consumer.seek_to_beginning(*tps)
        for number, offset in (start or {}).items():
            self._consumer.seek(TopicPartition(topic, number), offset)
        return tps


def _message(record: Any) -> Message:
    """A ``Message`` of an aiokafka ``ConsumerRecord``."""
    return Message(record.topic, record.partition, record.offset, record.key, record.value,
                   tuple(record.headers or ()), record.timestamp)
