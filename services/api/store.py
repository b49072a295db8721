"""Where the API keeps subscriptions: the compacted ``rules`` topic (contract in ``newsalert.schemas.rules_feed``).

Every change is one record, key ``subscription/<id>``, published with ``acks=all`` before the API
answers; a deletion is a tombstone. At start the API reads the topic from the beginning to its end
offset (one partition, compacted, so it holds one record per live key) and rebuilds its view:
the subscriptions and the newest ``ruleset`` snapshot. A restarted API therefore sees every
subscription it created.

One API instance writes the subscriptions: the in-memory view is updated from its own writes
after the broker acknowledged them, not re-read from the topic.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from pydantic import ValidationError

from newsalert.adapters.broker import Publisher
from newsalert.adapters.reading import KafkaReader, TopicReader
from newsalert.config import Settings
from newsalert.schemas.rules_feed import RULES_TOPIC, RuleSetSnapshot, SubscriptionRecord, decode_feed_record, subscription_key

log = logging.getLogger("newsalert.api")


@dataclass
class FeedView:
    """What the topic holds now: subscriptions by id (insertion = creation order) and the snapshot."""

    subscriptions: dict[str, SubscriptionRecord] = field(default_factory=dict)
    snapshot: RuleSetSnapshot | None = None
    records_read: int = 0
    invalid: int = 0

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """Fold one record of the topic into the view (invalid records are logged and skipped)."""
        self.records_read += 1
        try:
            decoded = decode_feed_record(key, value)
        except (ValueError, ValidationError) as exc:
            self.invalid += 1
            # The value may hold secrets: log only the key and the error's category.
            log.warning("skipping an invalid record on the rules topic (key %r): %s", key, type(exc).__name__)
            return
        if decoded is None:
            log.info("ignoring a record with an unknown key on the rules topic: %r", key)
            return
        kind, sub_id, record = decoded
        if kind == "ruleset":
            if record is not None:
                self.snapshot = record
        elif record is None:
            self.subscriptions.pop(sub_id, None)
        else:
            self.subscriptions[sub_id] = record


async def read_feed(settings: Settings, timeout_s: float, reader: TopicReader | None = None, *, quiet: bool = False) -> FeedView:
    """Read the whole ``rules`` topic, beginning to end offset; ``TransientError`` if that fails
    or takes longer than ``timeout_s``. ``reader``: a started one (default: a Kafka reader).
    ``quiet``: log the summary at debug level (the console reads the topic on every page)."""
    if reader is None:
        async with KafkaReader(settings, "newsalert-api-feed", max_partition_fetch_bytes=settings.rules_feed_max_bytes,
                               request_timeout_ms=settings.kafka_request_timeout_ms) as kafka:
            return await read_feed(settings, timeout_s, kafka, quiet=quiet)
    topic = settings.topic(RULES_TOPIC)
    view = FeedView()
    async for message in reader.read_to_end(topic, [0], timeout_s=timeout_s):
        view.apply(message.key, message.value)
    log.log(logging.DEBUG if quiet else logging.INFO, "read %d records from %s: %d subscriptions, rule-set snapshot %s", view.records_read, topic,
             len(view.subscriptions), view.snapshot.version if view.snapshot else "none")
    return view


class SubscriptionStore:
    """Writes subscription records and tombstones to the ``rules`` topic (acknowledged by all replicas)."""

    def __init__(self, settings: Settings, publisher: Publisher) -> None:
        self._topic = settings.topic(RULES_TOPIC)
        self._publisher = publisher

    async def put(self, record: SubscriptionRecord) -> None:
        """Store ``record`` durably; ``TransientError`` when the broker did not acknowledge it."""
        await self._publisher.publish(self._topic, record.to_json(), key=subscription_key(record.id))

    async def delete(self, subscription_id: str) -> None:
        """Publish the tombstone of ``subscription_id``; ``TransientError`` when not acknowledged."""
        # A null value is a tombstone: compaction then removes the key for good.
        await self._publisher.publish(self._topic, None, key=subscription_key(subscription_id))  # type: ignore[arg-type]
