"""The broker boundary, publishing side: ``Publisher`` and its aiokafka implementation.

``publish``/``publish_many`` return only once the broker has every record (``acks=all``,
idempotent producer) and raise ``TransientError`` otherwise; ``send_many`` returns a ``Sent`` to
wait on. After a broker restart aiokafka's idempotent producer can lose step with the broker's
sequence numbers (aiokafka issue #1017), so ``KafkaPublisher`` then replaces its producer. The
reading side is ``newsalert.adapters.reading``; the contracts are in ``docs/architecture.md``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Awaitable, Callable, Iterable, Protocol, Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import InvalidProducerEpoch, KafkaError, OutOfOrderSequenceNumber, UnknownProducerId

from newsalert.adapters import kafka_clients
from newsalert.config import Settings
from newsalert.errors import TransientError

Headers = Sequence[tuple[str, bytes]]

log = logging.getLogger(__name__)

# Errors after which an idempotent aiokafka producer never sends again (see the module docstring).
_PRODUCER_BROKEN = (OutOfOrderSequenceNumber, UnknownProducerId, InvalidProducerEpoch)
_RETIRE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Record:
    """One record to publish."""

    topic: str
    value: bytes | None  # None: a tombstone (compacted topics)
    key: bytes | None = None
    headers: Headers = ()
    # None: the producer's partitioner picks it from the key. Set only where a topic's partitions
    # must line up with another topic's (``matches.claims`` follows ``matches``).
    partition: int | None = None


@dataclass(frozen=True)
class Delivered:
    """Where the broker stored a record."""

    topic: str
    partition: int
    offset: int


class Sent:
    """Records handed to the producer; ``wait()`` for the broker's acknowledgement of all of them."""

    def __init__(
        self,
        futures: Sequence[asyncio.Future],
        timeout_s: float,
        on_failure: Callable[[BaseException], Awaitable[None]] | None = None,
    ) -> None:
        self._futures = futures
        self._timeout_s = timeout_s
        self._on_failure = on_failure

    def done(self) -> bool:
        """True once every record has its answer (acknowledged or failed)."""
        return all(f.done() for f in self._futures)

    async def wait(self) -> list[Delivered]:
        """The records' positions once acknowledged; ``TransientError`` if any failed or timed out."""
        if not self._futures:
            return []
        try:
            # One record (the notifier's attempt records) needs no gather: one task less per wait.
            waited = self._futures[0] if len(self._futures) == 1 else asyncio.gather(*self._futures)
            metadata = await asyncio.wait_for(waited, timeout=self._timeout_s)
            if len(self._futures) == 1:
                metadata = [metadata]
        except (KafkaError, asyncio.TimeoutError) as exc:
            if self._on_failure is not None:
                await self._on_failure(exc)
            raise TransientError(f"the broker did not acknowledge the records: {exc!r}") from exc
        return [Delivered(m.topic, m.partition, m.offset) for m in metadata]


class Publisher(Protocol):
    async def publish(self, topic: str, value: bytes, key: bytes | None = None, headers: Headers = ()) -> Delivered: ...

    async def publish_many(self, records: Iterable[Record]) -> list[Delivered]: ...

    async def send_many(self, records: Iterable[Record]) -> Sent: ...


class KafkaPublisher:
    """``Publisher`` on aiokafka: idempotent producer, ``acks=all``, bounded delivery time."""

    def __init__(self, settings: Settings, client_id: str = "newsalert", linger_ms: int = 5) -> None:
        self._settings = settings
        self._client_id = client_id
        self._linger_ms = linger_ms
        self._producer = self._new_producer()
        self._timeout_s = settings.kafka_request_timeout_ms / 1000 + 5
        self._replacing = asyncio.Lock()
        self._retired: set[asyncio.Task] = set()

    def _new_producer(self) -> AIOKafkaProducer:
        return kafka_clients.producer(
            self._settings,
            client_id=self._client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=self._linger_ms,
            request_timeout_ms=self._settings.kafka_request_timeout_ms,
            # Room for a whole rule-set snapshot on the rules topic; other topics keep the
            # broker's own (smaller) per-topic limit.
            max_request_size=self._settings.rules_feed_max_bytes,
        )

    async def _recover(self, producer: AIOKafkaProducer, exc: BaseException) -> None:
        """Replace ``producer`` by a new one if ``exc`` broke it for good (and nobody did yet).

        A new producer that cannot connect is dropped: the next failure tries again.
        """
        if not isinstance(exc, _PRODUCER_BROKEN):
            return
        async with self._replacing:
            if self._producer is not producer:
                return  # another failed call replaced it already
            fresh = self._new_producer()
            try:
                await fresh.start()
            except KafkaError as start_exc:
                await fresh.stop()
                log.warning("producer %s is out of step with the broker (%r) and no new one connects yet: %s",
                            self._client_id, exc, start_exc)
                return
            self._producer = fresh
        log.warning("producer %s replaced: it was out of step with the broker (%r), as after a broker restart",
                    self._client_id, exc)
        # Its pending batches can never succeed; close it in the background, bounded in time.
        task = asyncio.create_task(self._retire(producer))
        self._retired.add(task)
        task.add_done_callback(self._retired.discard)

    async def _retire(self, producer: AIOKafkaProducer) -> None:
        try:
            await asyncio.wait_for(producer.stop(), timeout=_RETIRE_TIMEOUT_S)
        except (Exception, asyncio.CancelledError) as exc:  # noqa: BLE001 - a dead producer's close may fail any way
            log.debug("closing the replaced producer: %r", exc)

    async def start(self) -> None:
        """Connect; raises ``TransientError`` when the broker is not reachable."""
        try:
            await self._producer.start()
        except KafkaError as exc:
            await self._producer.stop()
            problem = await kafka_clients.diagnose(self._settings)
            if problem is not None:
                raise problem from None
            raise TransientError(f"cannot connect the producer: {exc}") from exc

    async def stop(self) -> None:
        """Flush what is pending and disconnect (replaced producers too, bounded)."""
        await self._producer.stop()
        if self._retired:
            await asyncio.wait(set(self._retired), timeout=_RETIRE_TIMEOUT_S + 1)

    async def publish(self, topic: str, value: bytes, key: bytes | None = None, headers: Headers = ()) -> Delivered:
        return (await self.publish_many([Record(topic, value, key, headers)]))[0]

    async def send_many(self, records: Iterable[Record]) -> Sent:
        """Hand ``records`` to the producer without waiting for the broker (see the module docstring).

        Waits only while the producer's buffer is full; ``TransientError`` if it cannot take them.
        """
        producer = self._producer
        try:
            futures = [
                await producer.send(r.topic, r.value, key=r.key, headers=list(r.headers) or None, partition=r.partition)
                for r in records
            ]
        except KafkaError as exc:
            await self._recover(producer, exc)
            raise TransientError(f"the producer did not take the records: {exc!r}") from exc
        return Sent(futures, self._timeout_s, on_failure=lambda exc: self._recover(producer, exc))

    async def publish_many(self, records: Iterable[Record]) -> list[Delivered]:
        producer = self._producer
        try:
            futures = [
                await producer.send(r.topic, r.value, key=r.key, headers=list(r.headers) or None, partition=r.partition)
                for r in records
            ]
            metadata = await asyncio.wait_for(asyncio.gather(*futures), timeout=self._timeout_s)
        except (KafkaError, asyncio.TimeoutError) as exc:
            await self._recover(producer, exc)
            raise TransientError(f"the broker did not acknowledge the records: {exc!r}") from exc
        return [Delivered(m.topic, m.partition, m.offset) for m in metadata]
