"""The delivery attempts of one subscriber, read from the notifier's ``deliveries.attempts`` topic.

The notifier records every attempt as a ``DeliveryAttempt`` keyed by the subscriber id, so all of
one subscriber's attempts are in the one partition the default partitioner picks for that key.
The API reads only that partition, and only its newest ``SCAN_MAX`` records (a bounded cost per
request however long the topic is), keeps those of the subscriber and returns the newest
``DELIVERIES_MAX`` of them, oldest first. Older attempts are not shown; the answer's ``note``
says so when the scan did not reach the start of the partition.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner
from pydantic import ValidationError

from newsalert.adapters import kafka_clients
from newsalert.config import Settings
from newsalert.errors import TransientError
from newsalert.schemas.api import DELIVERIES_MAX
from newsalert.schemas.delivery import DeliveryAttempt

log = logging.getLogger("newsalert.api")

ATTEMPTS_TOPIC = "deliveries.attempts"
"""Logical name of the notifier's attempts topic (``newsalert.adapters.topics``)."""
SCAN_MAX = 10_000
"""Most records of the subscriber's partition read per request (the newest ones)."""
_POLL_MS = 300


@dataclass(frozen=True)
class Attempts:
    """The newest attempts of a subscriber (oldest first), and a note when the list may be partial."""

    items: list[DeliveryAttempt]
    note: str | None = None


async def read_attempts(settings: Settings, subscriber: str, timeout_s: float) -> Attempts:
    """The newest delivery attempts of ``subscriber``; ``TransientError`` if the broker fails us."""
    topic = settings.topic(ATTEMPTS_TOPIC)
    consumer = kafka_clients.consumer(settings, enable_auto_commit=False, group_id=None)
    try:
        await consumer.start()
        # A new consumer knows no topic yet and has no public call returning fresh partition
        # metadata; aiokafka is pinned (0.14.0), so its client's metadata fetch is used directly.
        cluster = await consumer._client.fetch_all_metadata()  # noqa: SLF001
        partitions = cluster.partitions_for_topic(topic)
        if not partitions:
            return Attempts([], f"the topic {topic} does not exist yet: no delivery has been attempted")
        return await _scan(consumer, topic, sorted(partitions), subscriber, timeout_s)
    except (KafkaError, asyncio.TimeoutError) as exc:
        raise TransientError(f"reading {topic} failed: {exc!r}") from exc
    finally:
        await consumer.stop()


async def _scan(consumer: AIOKafkaConsumer, topic: str, partitions: list[int], subscriber: str, timeout_s: float) -> Attempts:
    """Read the newest ``SCAN_MAX`` records of the subscriber's partition and keep its attempts."""
    number = DefaultPartitioner()(subscriber.encode(), partitions, partitions)
    tp = TopicPartition(topic, number)
    consumer.assign([tp])
    start = (await consumer.beginning_offsets([tp]))[tp]
    end = (await consumer.end_offsets([tp]))[tp]
    first = max(start, end - SCAN_MAX)
    consumer.seek(tp, first)
    kept: collections.deque[DeliveryAttempt] = collections.deque(maxlen=DELIVERIES_MAX)
    skipped = 0
    deadline = time.monotonic() + timeout_s
    while await consumer.position(tp) < end:
        if time.monotonic() > deadline:
            raise TransientError(f"reading {topic} did not finish within {timeout_s:g} s")
        batches = await consumer.getmany(tp, timeout_ms=_POLL_MS)
        for message in batches.get(tp, []):
            if message.offset >= end or message.key != subscriber.encode() or message.value is None:
                continue
            try:
                kept.append(DeliveryAttempt.model_validate_json(message.value))
            except ValidationError:
                skipped += 1
    notes = []
    if first > start:
        notes.append(f"only the newest {SCAN_MAX} records of the attempts partition were searched")
    if skipped:
        notes.append(f"{skipped} unreadable attempt records were skipped")
    return Attempts(list(kept), "; ".join(notes) or None)
