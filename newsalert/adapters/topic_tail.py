"""Reading the newest records of a topic: the last N of each partition, or those since a time.

The console's pages show recent state (alerts, attempts, articles to back-test) without reading
whole topics: each read takes the end offsets first, starts every partition at
``max(beginning, end - N)`` (or at the first offset at or after ``since``) and stops at those end
offsets, so it terminates however busy the topic is and costs at most N records a partition.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from newsalert.adapters import kafka_clients
from newsalert.config import Settings
from newsalert.errors import TransientError

_POLL_MS = 300


@dataclass(frozen=True, slots=True)
class TailRecord:
    """One record read: where it was, its key, value and broker timestamp (ms since the epoch)."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int


async def read_tail(
    settings: Settings, topic: str, per_partition: int, *, since: datetime | None = None, timeout_s: float = 20.0
) -> list[TailRecord]:
    """The newest ``per_partition`` records of each partition of logical ``topic`` (only those at or
    after ``since`` when given), oldest first by timestamp. ``TransientError`` if the broker fails
    us or the read takes longer than ``timeout_s``; a topic that does not exist yet reads as empty."""
    full = settings.topic(topic)
    consumer = kafka_clients.consumer(
        settings, group_id=None, enable_auto_commit=False,
        client_id="newsalert-console", isolation_level="read_committed",
        max_partition_fetch_bytes=settings.rules_feed_max_bytes,
    )
    try:
        await consumer.start()
    except KafkaError as exc:
        await consumer.stop()
        raise TransientError(f"Kafka at {settings.kafka_bootstrap} is not reachable: {exc}") from exc
    try:
        # A topic-less consumer has no public call returning fresh partition metadata; aiokafka is
        # pinned (0.14.0), so its client's metadata fetch is used directly (as the API's
        # delivery reader does): a missing topic is then simply empty, not an error.
        cluster = await consumer._client.fetch_all_metadata()  # noqa: SLF001
        found = cluster.partitions_for_topic(full) or set()
        if not found:
            return []
        partitions = [TopicPartition(full, p) for p in sorted(found)]
        consumer.assign(partitions)
        ends = await _seek(consumer, partitions, per_partition, since)
        records = await asyncio.wait_for(_read(consumer, ends), timeout_s)
    except (KafkaError, asyncio.TimeoutError) as exc:
        raise TransientError(f"reading {full} failed: {exc!r}") from exc
    finally:
        await consumer.stop()
    records.sort(key=lambda r: (r.timestamp_ms, r.partition, r.offset))
    return records


async def _seek(
    consumer: AIOKafkaConsumer, partitions: list[TopicPartition], per_partition: int, since: datetime | None
) -> dict[TopicPartition, int]:
    """Position every partition at its first record to read; return the end offsets to stop at."""
    starts = await consumer.beginning_offsets(partitions)
    ends = await consumer.end_offsets(partitions)
    firsts = {tp: max(starts[tp], ends[tp] - per_partition) for tp in partitions}
    if since is not None:
        found = await consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in partitions})
        for tp in partitions:
            at = found.get(tp)
            firsts[tp] = max(firsts[tp], at.offset if at is not None else ends[tp])
    for tp in partitions:
        consumer.seek(tp, firsts[tp])
    return {tp: ends[tp] for tp in partitions if firsts[tp] < ends[tp]}


async def _read(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> list[TailRecord]:
    out: list[TailRecord] = []
    remaining = set(ends)
    while remaining:
        batches = await consumer.getmany(*remaining, timeout_ms=_POLL_MS)
        for tp, records in batches.items():
            for r in records:
                if r.offset < ends[tp]:
                    out.append(TailRecord(tp.partition, r.offset, r.key, r.value, r.timestamp))
        for tp in list(remaining):
            if await consumer.position(tp) >= ends[tp]:
                remaining.discard(tp)
    return out

