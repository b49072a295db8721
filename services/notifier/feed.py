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

from newsalert.adapters.followed import FollowedTopic
from newsalert.adapters.reading import KafkaReader, Message, TopicReader
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

    def __init__(
        self, settings: Settings, static: Mapping[str, Endpoint] | None = None, reader: TopicReader | None = None
    ) -> None:
        self._settings = settings
        self._topic = settings.topic(RULES_TOPIC)
        self._static = dict(static or {})
        self._snapshot: dict[str, Endpoint] = {}
        self._subscriptions: dict[str, Endpoint] = {}
        self._reader = reader  # None: a Kafka reader of its own, opened by start()
        self._exit = contextlib.AsyncExitStack()
        self._followed: FollowedTopic | None = None
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
        reader = self._reader
        if reader is None:
            reader = await self._exit.enter_async_context(KafkaReader(
                self._settings, "newsalert-notifier-feed", isolation_level="read_committed",
                # The rules topic carries whole rule-set snapshots, larger than the default fetch size.
                max_partition_fetch_bytes=self._settings.rules_feed_max_bytes,
            ))
        self._followed = FollowedTopic(reader, self._topic, self._take)
        try:
            await self._followed.load(_LOAD_TIMEOUT_S)
        except BaseException:
            await self._exit.aclose()
            raise
        log.info("rules feed read: %d subscriber(s) from the snapshot, %d active API subscription(s)",
                 len(self._snapshot), len(self._subscriptions))
        self._followed.follow("rules-feed")

    async def stop(self) -> None:
        """Stop following and disconnect."""
        if self._followed is not None:
            await self._followed.stop()
        await self._exit.aclose()

    async def catch_up(self) -> None:
        """Wait (bounded) until the background reader has reached the feed's current end."""
        if self._followed is None:
            return
        loop = asyncio.get_running_loop()
        if loop.time() - self._last_catch_up < _CATCH_UP_EVERY_S:
            return
        self._last_catch_up = loop.time()
        try:
            await self._followed.caught_up(_CATCH_UP_TIMEOUT_S)
        except TransientError as exc:
            log.warning("could not catch up with %s (%s)", self._topic, exc)

    # -- reading ---------------------------------------------------------------------------------
    def _take(self, record: Message) -> None:
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
