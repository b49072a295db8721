"""KafkaPublisher replaces an idempotent producer that lost step with the broker.

The real failure (aiokafka issue #1017: ``OutOfOrderSequenceNumber`` on every send after a broker
restart) depends on which batches were in flight when the broker went down, so the broker fault
test (tests/e2e/test_process_faults.py) cannot force it. Here stand-in producers fail on purpose
to pin down the publisher's own logic: replace once, only for those errors, retry goes through
the new producer, the old one is closed.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from aiokafka.errors import KafkaConnectionError, OutOfOrderSequenceNumber

from newsalert.adapters.broker import KafkaPublisher, Record
from newsalert.config import Settings
from newsalert.errors import TransientError


class StandInProducer:
    """Answers every send with ``error`` (or success when None); counts starts and stops."""

    def __init__(self, error: Exception | None) -> None:
        self.error = error
        self.started = self.stopped = 0
        self.sent = 0

    async def start(self) -> None:
        self.started += 1

    async def stop(self) -> None:
        self.stopped += 1

    async def send(self, topic, value, key=None, headers=None, partition=None):
        self.sent += 1
        future = asyncio.get_running_loop().create_future()
        if self.error is not None:
            future.set_exception(self.error)
        else:
            future.set_result(SimpleNamespace(topic=topic, partition=0, offset=self.sent - 1))
        return future


def publisher_with(monkeypatch, *producers: StandInProducer) -> KafkaPublisher:
    queue = list(producers)
    monkeypatch.setattr(KafkaPublisher, "_new_producer", lambda self: queue.pop(0))
    return KafkaPublisher(Settings(_env_file=None))


RECORD = Record("t", b"v", b"k")


async def test_out_of_order_sequence_replaces_the_producer_once(monkeypatch):
    broken, fresh = StandInProducer(OutOfOrderSequenceNumber()), StandInProducer(None)
    pub = publisher_with(monkeypatch, broken, fresh)
    await pub.start()
    results = await asyncio.gather(*(pub.publish_many([RECORD]) for _ in range(3)), return_exceptions=True)
    assert all(isinstance(r, TransientError) for r in results)  # the failed calls still fail
    assert fresh.started == 1  # replaced once, although three calls failed
    delivered = await pub.publish_many([RECORD])  # the caller's retry goes through the new producer
    assert delivered[0].offset == 0 and fresh.sent == 1
    await pub.stop()
    assert broken.stopped == 1 and fresh.stopped == 1


async def test_send_many_failure_replaces_the_producer(monkeypatch):
    broken, fresh = StandInProducer(OutOfOrderSequenceNumber()), StandInProducer(None)
    pub = publisher_with(monkeypatch, broken, fresh)
    await pub.start()
    sent = await pub.send_many([RECORD, RECORD])
    with pytest.raises(TransientError):
        await sent.wait()
    assert fresh.started == 1
    assert len(await (await pub.send_many([RECORD])).wait()) == 1
    await pub.stop()


async def test_other_errors_keep_the_producer(monkeypatch):
    flaky = StandInProducer(KafkaConnectionError())
    pub = publisher_with(monkeypatch, flaky)  # a second producer would be popped from an empty list
    await pub.start()
    with pytest.raises(TransientError):
        await pub.publish_many([RECORD])
    flaky.error = None
    assert (await pub.publish_many([RECORD]))[0].offset == 1
    await pub.stop()
    assert flaky.started == 1 and flaky.stopped == 1
