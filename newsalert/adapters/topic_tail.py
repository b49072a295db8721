"""Reading the newest records of a topic: the last N of each partition, optionally only those since a time.

The console's pages show recent state (alerts, attempts, articles to back-test) without reading
whole topics: each partition is read from ``max(first offset held, end - N)`` to the end offsets
taken at the start of the read (``newsalert.adapters.reading``), so a read terminates however busy
the topic is and costs at most N records a partition.
"""

from __future__ import annotations

from datetime import datetime

from newsalert.adapters.reading import KafkaReader, Message
from newsalert.config import Settings


async def read_tail(
    settings: Settings, topic: str, per_partition: int, *, since: datetime | None = None, timeout_s: float = 20.0
) -> list[Message]:
    """The newest ``per_partition`` records of each partition of logical ``topic`` (of those, only
    the ones the broker stamped at or after ``since`` when given), oldest first by timestamp.
    ``TransientError`` if the broker fails us or the read takes longer than ``timeout_s``; a topic
    that does not exist yet reads as empty."""
    full = settings.topic(topic)
    async with KafkaReader(settings, client_id="newsalert-console", isolation_level="read_committed",
                           max_partition_fetch_bytes=settings.rules_feed_max_bytes) as reader:
        partitions = await reader.partitions(full)
        if not partitions:
            return []
        start = {}
        for number in partitions:
            first, end = await reader.bounds(full, number)
            start[number] = max(first, end - per_partition)
        records = [m async for m in reader.read_to_end(full, partitions, start=start, timeout_s=timeout_s)]
    if since is not None:
        cutoff = since.timestamp() * 1000
        records = [m for m in records if (m.timestamp_ms or 0) >= cutoff]
    records.sort(key=lambda m: (m.timestamp_ms or 0, m.partition, m.offset))
    return records
