"""The in-memory broker keeps the boundary's contracts, and readers written against the boundary
(the API's feed and attempts, the notifier's subscriber states and directory) run on it without Kafka."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest
from aiokafka.partitioner import DefaultPartitioner

from newsalert.adapters.broker import Record
from newsalert.adapters.memory_broker import InMemoryBroker
from newsalert.config import Settings
from newsalert.errors import TransientError
from newsalert.schemas.delivery import DeliveryAttempt, SubscriberState
from newsalert.schemas.rules_feed import FeedSubscriber, SubscriptionRecord, subscription_key
from newsalert.services.api.deliveries import SCAN_MAX, read_attempts
from newsalert.services.api.store import read_feed
from newsalert.services.notifier.feed import SubscriberDirectory
from newsalert.services.notifier.states import SubscriberStates
from tests.support import SECRET, make_alert


async def test_keys_pick_partitions_as_kafka_does_and_offsets_count_per_partition():
    broker = InMemoryBroker()
    broker.create_topic("t", 4)
    first = await broker.publish("t", b"1", key=b"alice")
    second = await broker.publish("t", b"2", key=b"alice")
    expected = DefaultPartitioner()(b"alice", [0, 1, 2, 3], [0, 1, 2, 3])
    assert (first.partition, first.offset) == (expected, 0)
    assert (second.partition, second.offset) == (expected, 1)
    sent = await broker.send_many([Record("t", b"3", partition=3)])
    assert [(d.partition, d.offset) for d in await sent.wait()] == [(3, 0 if expected != 3 else 2)]


async def test_read_to_end_stops_at_the_end_offsets_taken_when_called():
    broker = InMemoryBroker()
    for n in range(3):
        await broker.publish("t", str(n).encode())
    seen = []
    async for message in broker.read_to_end("t"):
        seen.append(message.value)
        await broker.publish("t", b"later")  # after the end offset: not part of this read
    assert seen == [b"0", b"1", b"2"]
    assert [m.value for m in [m async for m in broker.read_to_end("t", start={0: 2})]][:1] == [b"2"]


async def test_follow_reads_the_backlog_then_waits_for_new_records():
    broker = InMemoryBroker()
    await broker.publish("t", b"old")
    follower = broker.follow("t")
    assert (await anext(follower)).value == b"old"
    waiting = asyncio.ensure_future(anext(follower))
    await asyncio.sleep(0)
    assert not waiting.done()
    await broker.publish("t", b"new")
    assert (await asyncio.wait_for(waiting, 1)).value == b"new"


async def test_fail_next_makes_a_publish_transient():
    broker = InMemoryBroker()
    broker.fail_next = 1
    with pytest.raises(TransientError):
        await broker.publish("t", b"x")
    assert (await broker.publish("t", b"x")).offset == 0


def _subscription(sub_id: str) -> SubscriptionRecord:
    subscriber = FeedSubscriber(id=sub_id, url=f"https://example.org/{sub_id}", secret=SECRET)
    return SubscriptionRecord(id=sub_id, subscriber=subscriber, rule_ids=("r1",))


async def test_the_api_feed_view_is_rebuilt_from_the_topic_tombstones_included():
    settings = Settings(_env_file=None, topic_prefix="m-")
    broker = InMemoryBroker()
    for sub_id in ("a", "b"):
        await broker.publish("m-rules", _subscription(sub_id).to_json(), key=subscription_key(sub_id))
    await broker.publish("m-rules", None, key=subscription_key("a"))
    view = await read_feed(settings, 5, broker)
    assert list(view.subscriptions) == ["b"] and view.records_read == 3


async def test_the_api_reads_only_the_newest_attempts_of_the_subscribers_partition():
    settings = Settings(_env_file=None, topic_prefix="m-")
    broker = InMemoryBroker()
    broker.create_topic("m-deliveries.attempts", 2)
    at = datetime(2026, 12, 1, tzinfo=timezone.utc)
    for n in range(SCAN_MAX + 5):
        attempt = DeliveryAttempt(subscriber="desk", webhook_id=f"msg_{n}", attempt=1, outcome="delivered", latency_ms=1, at=at)
        await broker.publish("m-deliveries.attempts", attempt.to_json(), key=b"desk")
    found = await read_attempts(settings, "desk", 5, broker)
    assert found.items[-1].webhook_id == f"msg_{SCAN_MAX + 4}"
    assert found.note is not None and "newest" in found.note
    assert (await read_attempts(settings, "nobody-else", 5, broker)).items == []


async def test_the_notifier_keeps_disabled_subscribers_from_the_topic_and_follows_it():
    settings = Settings(_env_file=None, topic_prefix="m-")
    broker = InMemoryBroker()
    at = datetime(2026, 12, 1, tzinfo=timezone.utc)
    gone = SubscriberState(subscriber="gone", status="disabled", reason="410", at=at)
    await broker.publish("m-deliveries.subscribers", gone.to_json(), key=b"gone")
    states = SubscriberStates(settings, broker)
    await states.start()
    try:
        assert states.is_disabled("gone")
        back = SubscriberState(subscriber="gone", status="enabled", reason="operator", at=at)
        await broker.publish("m-deliveries.subscribers", back.to_json(), key=b"gone")
        for _ in range(100):
            await asyncio.sleep(0)
        assert not states.is_disabled("gone")
    finally:
        await states.stop()


async def test_the_notifier_directory_catches_up_with_a_subscription_made_after_its_start():
    settings = Settings(_env_file=None, topic_prefix="m-")
    broker = InMemoryBroker()
    directory = SubscriberDirectory(settings, {}, broker)
    await directory.start()
    try:
        assert directory.get("late") is None
        record = _subscription("late").model_copy(update={"status": "active"})
        await broker.publish("m-rules", record.to_json(), key=subscription_key("late"))
        await directory.catch_up()
        assert directory["late"].url == "https://example.org/late"
    finally:
        await directory.stop()


async def test_records_come_back_with_their_key_headers_and_value():
    broker = InMemoryBroker()
    alert = make_alert(subscriber="desk")
    await broker.publish("t", alert.to_json(), key=b"desk", headers=[("newsalert-dedup", b"[]")])
    [message] = [m async for m in broker.read_to_end("t")]
    assert (message.key, message.headers, message.value) == (b"desk", (("newsalert-dedup", b"[]"),), alert.to_json())
