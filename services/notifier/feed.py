"""Subscribers from the compacted ``rules`` topic: the rule-set snapshot's and the API's.

The contract is ``newsalert.schemas.rules_feed``. The notifier needs only who to deliver to: the subscribers
of the newest ``ruleset`` snapshot, and every ``subscription/<id>`` record whose status is
``active`` (a tombstone, or a record back to ``pending``, removes it). ``SubscriberDirectory``
answers "which endpoint is subscriber X" in this order: the ``--rules`` file the notifier was
started with, then the snapshot, then the active subscriptions (an API subscription never
overrides a YAML subscriber, as the contract says).

Startup ordering: ``start()`` reads the topic from the beginning to its end before it returns, and
the notifier consumes ``matches`` only after that, so every subscription that existed when it
started is known before its first alert. It then follows the topic in the background. A
subscription created later races its first alert (the matcher and the notifier read the feed
independently): an alert naming a subscriber not known yet makes the notifier ``catch_up()``
(wait until it has read the feed up to its current end) before it decides the subscriber is
unknown, so such an alert is delivered, not dead-lettered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator, Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from newsalert.config import Settings
from newsalert.errors import TransientError
from newsalert.schemas.rules_feed import RULES_TOPIC, SubscriptionRecord, decode_feed_record
from newsalert.domain.delivery.endpoints import Endpoint, endpoint_of

log = logging.getLogger(__name__)

_LOAD_TIMEOUT_S = 60.0
_CATCH_UP_TIMEOUT_S = 5.0
_CATCH_UP_EVERY_S = 0.5  # at most one catch-up this often: a flood of unknown subscribers stays cheap


class SubscriberDirectory(Mapping[str, Endpoint]):
    """Endpoints by subscriber id: the ``--rules`` file, then the feed; see the module docstring."""

    def __init__(self, settings: Settings, static: Mapping[str, Endpoint] | None = None) -> None:
        self._settings = settings
        self._topic = settings.topic(RULES_TOPIC)
        self._static = dict(static or {})
        self._snapshot: dict[str, Endpoint] = {}
        self._subscriptions: dict[str, Endpoint] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []
        self._task: asyncio.Task | None = None
        self._last_catch_up = float("-inf")

    # -- Mapping ---------------------------------------------------------------------------------
    def __getitem__(self, subscriber: str) -> Endpoint:
        for source in (self._static, self._snapshot, self._subscriptions):
            if subscriber in source:
                return source[subscriber]
        raise KeyError(subscriber)

    def get(self, subscriber: str, default: Endpoint | None = None) -> Endpoint | None:
        """Like ``Mapping.get`` without raising and catching a ``KeyError`` (once per alert)."""
        for source in (self._static, self._snapshot, self._subscriptions):
            found = source.get(subscriber)
            if found is not None:
                return found
        return default

    def __iter__(self) -> Iterator[str]:
        return iter({**self._subscriptions, **self._snapshot, **self._static})

    def __len__(self) -> int:
        return len({**self._subscriptions, **self._snapshot, **self._static})

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        """Read the feed to its end (``TransientError`` when that fails), then follow it."""
        from newsalert.adapters.delivery_history import metadata_consumer

        self._consumer = metadata_consumer(self._settings, self._topic, "newsalert-notifier-feed")
        try:
            await self._consumer.start()
            found = self._consumer.partitions_for_topic(self._topic) or {0}
            self._consumer.unsubscribe()
            self._partitions = [TopicPartition(self._topic, p) for p in sorted(found)]
            self._consumer.assign(self._partitions)
            await self._consumer.seek_to_beginning(*self._partitions)
            ends = await self._consumer.end_offsets(self._partitions)
            await asyncio.wait_for(self._read_until(ends), timeout=_LOAD_TIMEOUT_S)
        except (KafkaError, asyncio.TimeoutError) as exc:
            await self._consumer.stop()
            raise TransientError(f"cannot read {self._topic}: {exc!r}") from exc
        except BaseException:
            await self._consumer.stop()
            raise
        log.info("rules feed read: %d subscriber(s) from the snapshot, %d active API subscription(s)",
                 len(self._snapshot), len(self._subscriptions))
        self._task = asyncio.create_task(self._follow(), name="rules-feed")

    async def stop(self) -> None:
        """Stop following and disconnect."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

    async def catch_up(self) -> None:
        """Wait (bounded) until the background reader has reached the feed's current end."""
        if self._task is None or self._consumer is None:
            return
        loop = asyncio.get_running_loop()
        if loop.time() - self._last_catch_up < _CATCH_UP_EVERY_S:
            return
        self._last_catch_up = loop.time()
        try:
            ends = await self._consumer.end_offsets(self._partitions)
            deadline = loop.time() + _CATCH_UP_TIMEOUT_S
            while loop.time() < deadline:
                if await self._reached(ends):
                    return
                await asyncio.sleep(0.05)
        except KafkaError as exc:
            log.warning("could not catch up with %s (%s)", self._topic, exc)

    # -- reading ---------------------------------------------------------------------------------
    async def _reached(self, ends: dict[TopicPartition, int]) -> bool:
        """True once every partition's read position is at or past ``ends``."""
        for tp, end in ends.items():
            if await self._consumer.position(tp) < end:
                return False
        return True

    async def _read_until(self, ends: dict[TopicPartition, int]) -> None:
        while not await self._reached(ends):
            await self._read_batch()

    async def _follow(self) -> None:
        while True:
            try:
                await self._read_batch()
            except KafkaError as exc:  # the broker away: keep what we know, try again
                log.warning("following %s failed (%s); retrying", self._topic, exc)
                await asyncio.sleep(1.0)

    async def _read_batch(self) -> None:
        batches = await self._consumer.getmany(timeout_ms=500)
        for records in batches.values():
            for record in records:
                self._take(record)

    def _take(self, record) -> None:
        """Apply one feed record; a malformed one is logged and leaves the previous state."""
        try:
            decoded = decode_feed_record(record.key, record.value)
        except ValueError as exc:  # pydantic's ValidationError included; values may hold secrets
            log.error("ignoring a malformed record at %s[%d]@%d: %s", record.topic, record.partition, record.offset,
                      type(exc).__name__)
            return
        if decoded is None:
            log.info("ignoring unknown key at %s[%d]@%d", record.topic, record.partition, record.offset)
            return
        kind, sub_id, value = decoded
        if kind == "ruleset":
            if value is not None:
                self._snapshot = {s.id: endpoint_of(s.id, s) for s in value.subscribers}
            return
        self.apply_subscription(sub_id, value)

    def apply_subscription(self, sub_id: str, record: SubscriptionRecord | None) -> None:
        """Take one subscription record (None: its tombstone)."""
        if record is None or record.status != "active":
            if self._subscriptions.pop(sub_id, None) is not None:
                log.info("API subscriber %s removed (%s)", sub_id, "deleted" if record is None else record.status)
            return
        self._subscriptions[sub_id] = endpoint_of(sub_id, record.subscriber)
        log.info("API subscriber %s active (revision %d)", sub_id, record.revision)
