"""faust-streaming 0.15.3 + aiokafka 0.14.0 on the real local broker: a one-agent app.

The app runs in the test's event loop (``await app.start()`` / ``await app.stop()``), which is
how docs/faust-notes.md recommends testing faust code: no worker subprocess, no signal handlers.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import faust
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

pytestmark = pytest.mark.kafka

N = 50


def _make_app(bootstrap: str, app_id: str, topic_name: str, datadir: Path,
              seen: list[bytes], want: int, done: asyncio.Event) -> faust.App:
    """A faust app with one agent (concurrency=1) appending every value it sees to ``seen``."""
    app = faust.App(
        app_id,
        broker=f"kafka://{bootstrap}",
        store="memory://",
        web_enabled=False,  # no HTTP server in tests; the matcher exposes its own health endpoint
        datadir=str(datadir),
        topic_replication_factor=1,  # faust's own internal topics, on a one-broker cluster
        topic_partitions=1,
        consumer_auto_offset_reset="earliest",
    )
    topic = app.topic(topic_name, value_type=bytes, value_serializer="raw")

    @app.agent(topic, concurrency=1)
    async def collect(stream):
        async for value in stream:
            seen.append(value)
            if len(seen) >= want:
                done.set()

    return app


async def _create_topic(bootstrap: str, name: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()


async def _produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value)
    finally:
        await producer.stop()


async def _committed(bootstrap: str, group: str, topic: str) -> int | None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        return await consumer.committed(TopicPartition(topic, 0))
    finally:
        await consumer.stop()


async def _run_until(app: faust.App, done: asyncio.Event, timeout: float) -> None:
    """Start ``app``, wait for ``done``, stop it cleanly whatever happened."""
    await asyncio.wait_for(app.start(), timeout)
    try:
        await asyncio.wait_for(done.wait(), timeout)
    finally:
        await asyncio.wait_for(app.stop(), timeout)


async def test_one_agent_processes_every_message_and_commits_on_stop(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    topic, app_id = f"{topic_prefix}faust-in", f"{topic_prefix}faust-app"
    await _create_topic(kafka_bootstrap, topic)
    values = [f"m{i}".encode() for i in range(N)]
    await _produce(kafka_bootstrap, topic, values)

    seen: list[bytes] = []
    done = asyncio.Event()
    app = _make_app(kafka_bootstrap, app_id, topic, tmp_path / "a", seen, N, done)
    await _run_until(app, done, timeout=90)

    assert seen == values  # one partition, one agent instance: all of them, in order, once
    # A clean stop commits what was processed: the group resumes after the last message.
    assert await _committed(kafka_bootstrap, app_id, topic) == N

    # A second run of the same app id sees only what was published since.
    more = [f"n{i}".encode() for i in range(3)]
    seen2: list[bytes] = []
    done2 = asyncio.Event()
    app2 = _make_app(kafka_bootstrap, app_id, topic, tmp_path / "b", seen2, len(more), done2)
    await asyncio.wait_for(app2.start(), 90)
    try:
        await _produce(kafka_bootstrap, topic, more)
        await asyncio.wait_for(done2.wait(), 90)
        await asyncio.sleep(1.0)  # room for a wrongly re-delivered old message to show up
    finally:
        await asyncio.wait_for(app2.stop(), 90)
    assert seen2 == more
    assert await _committed(kafka_bootstrap, app_id, topic) == N + len(more)
