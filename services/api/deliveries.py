"""The delivery attempts of one subscriber, read from the notifier's ``deliveries.attempts`` topic.

The notifier records every attempt as a ``DeliveryAttempt`` keyed by the subscriber id, so all of
one subscriber's attempts are in the one partition the default partitioner picks for that key.
The API reads only that partition, and only its newest ``SCAN_MAX`` records (a bounded cost per
request however long the topic is), keeps those of the subscriber and returns the newest
``DELIVERIES_MAX`` of them, oldest first. Older attempts are not shown; the answer's ``note``
says so when the scan did not reach the start of the partition.
"""

from __future__ import annotations

import collections
import logging
from dataclasses import dataclass

from aiokafka.partitioner import DefaultPartitioner
from pydantic import ValidationError

from newsalert.adapters.reading import KafkaReader, TopicReader
from newsalert.config import Settings
from newsalert.schemas.api import DELIVERIES_MAX
from newsalert.schemas.delivery import DeliveryAttempt

log = logging.getLogger("newsalert.api")

ATTEMPTS_TOPIC = "deliveries.attempts"
"""Logical name of the notifier's attempts topic (``newsalert.adapters.topics``)."""
SCAN_MAX = 10_000
"""Most records of the subscriber's partition read per request (the newest ones)."""

@dataclass(frozen=True)
class Attempts:
    """The newest attempts of a subscriber (oldest first), and a note when the list may be partial."""

    items: list[DeliveryAttempt]
    note: str | None = None


async def read_attempts(settings: Settings, subscriber: str, timeout_s: float, reader: TopicReader | None = None) -> Attempts:
    """The newest delivery attempts of ``subscriber``; ``TransientError`` if the broker fails us.
    ``reader``: a started one (default: a Kafka reader)."""
    if reader is None:
        async with KafkaReader(settings, "newsalert-api-attempts") as kafka:
            return await read_attempts(settings, subscriber, timeout_s, kafka)
    topic = settings.topic(ATTEMPTS_TOPIC)
    partitions = await reader.partitions(topic)
    if not partitions:
        return Attempts([], f"the topic {topic} does not exist yet: no delivery has been attempted")
    number = DefaultPartitioner()(subscriber.encode(), partitions, partitions)
    start, end = await reader.bounds(topic, number)
    first = max(start, end - SCAN_MAX)
    kept: collections.deque[DeliveryAttempt] = collections.deque(maxlen=DELIVERIES_MAX)
    skipped = 0
    async for message in reader.read_to_end(topic, [number], start={number: first}, timeout_s=timeout_s):
        if message.key != subscriber.encode() or message.value is None:
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
