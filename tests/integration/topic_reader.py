"""Reading back what a test published: every record of one topic, from the beginning, bounded in time."""

from __future__ import annotations

import asyncio
import json
import time

from aiokafka import AIOKafkaConsumer


async def read_topic(bootstrap: str, topic: str, expected: int, timeout: float = 30.0, settle: float = 1.0) -> list:
    """The records of ``topic`` once ``expected`` have arrived (or ``timeout`` passed), plus any
    that arrive within ``settle`` seconds more, so a test also sees records it did not expect."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    records: list = []
    try:
        deadline = time.monotonic() + timeout
        while len(records) < expected and time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=300)).values():
                records.extend(batch)
        settle_until = time.monotonic() + settle
        while time.monotonic() < settle_until:
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return records


def values(records: list) -> list[dict]:
    """The JSON values of ``records``."""
    return [json.loads(r.value) for r in records]


def run(coro):
    """Run a coroutine from synchronous test code (the CLI tests)."""
    return asyncio.run(coro)
