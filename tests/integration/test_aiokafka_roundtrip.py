"""aiokafka 0.14 against the real local broker: create a topic, produce, consume it all back."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import UnknownTopicOrPartitionError

pytestmark = pytest.mark.kafka

N = 200
PARTITIONS = 3


async def _create_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    finally:
        await admin.close()


async def _consume(consumer: AIOKafkaConsumer, count: int, timeout: float) -> list:
    got: list = []
    async with asyncio.timeout(timeout):
        while len(got) < count:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                got.extend(records)
    return got


async def test_produce_and_consume_round_trip(kafka_bootstrap: str, topic_prefix: str) -> None:
    topic = f"{topic_prefix}roundtrip"
    await _create_topic(kafka_bootstrap, topic, PARTITIONS)

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        sent = [(f"k{i % 7}".encode(), f"value-{i}".encode()) for i in range(N)]
        futures = [await producer.send(topic, value=v, key=k, headers=[("n", str(i).encode())])
                   for i, (k, v) in enumerate(sent)]
        metadata = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    assert {m.partition for m in metadata} <= set(range(PARTITIONS))

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka_bootstrap, group_id=f"{topic_prefix}g",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        records = await _consume(consumer, N, timeout=60)
        await consumer.commit()
    finally:
        await consumer.stop()

    assert sorted(r.value for r in records) == sorted(v for _, v in sent)
    # Same key -> same partition, and within a key the publish order is kept.
    by_key: dict[bytes, list[int]] = {}
    partition_of: dict[bytes, set[int]] = {}
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        by_key.setdefault(r.key, []).append(int(dict(r.headers)["n"]))
        partition_of.setdefault(r.key, set()).add(r.partition)
    assert all(len(p) == 1 for p in partition_of.values())
    assert all(ns == sorted(ns) for ns in by_key.values())


async def test_auto_topic_creation_is_off(kafka_bootstrap: str, topic_prefix: str) -> None:
    """The services must create their topics: producing to a missing topic does not invent it."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, request_timeout_ms=3000)
    await producer.start()
    try:
        # aiokafka waits request_timeout_ms for the topic to appear in metadata, then gives up.
        with pytest.raises(UnknownTopicOrPartitionError):
            await asyncio.wait_for(producer.send_and_wait(f"{topic_prefix}never-created", b"x"), 20)
    finally:
        await producer.stop()
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        assert f"{topic_prefix}never-created" not in await admin.list_topics()
    finally:
        await admin.close()
