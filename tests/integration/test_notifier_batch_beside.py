"""Batched delivery beside the rest of delivery, on the real broker and a real receiver on 127.0.0.1:
a lone alert of a ``batch_max`` subscriber goes alone without waiting for company; rate limits,
digests and story de-duplication keep working for it; an alert dead-lettered from a given-up
batch is replayed alone."""

from __future__ import annotations

import json

import pytest
from pydantic import SecretStr

from newsalert.adapters import delivery_history as history
from newsalert.adapters.broker import KafkaPublisher, Record
from newsalert.adapters.topics import ensure_topics
from newsalert.config import Settings
from newsalert.domain.delivery.endpoints import Endpoint
from newsalert.domain.delivery.ratelimit import RateLimit
from newsalert.schemas.dedup import DEDUP_HEADER
from tests.integration.test_notifier import (  # noqa: F401 - fixtures
    SECRETS,
    Receiver,
    make_alert,
    publish,
    receiver,
    running_notifier,
    settings,
)
from tests.integration.test_notifier_rate_limits import away_from_minute_end, bodies, wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]


def batched(receiver: Receiver, name: str, batch_max: int, limit: RateLimit | None = None) -> Endpoint:
    return Endpoint(name, receiver.url(name), (SecretStr(SECRETS[name]),), limit, batch_max=batch_max)


def listed(body: dict) -> list[str]:
    """Webhook ids of the alerts a verified body carries (itself, or a batch's or digest's)."""
    return [p["webhook_id"] for p in body["alerts"]] if body["type"] in ("batch", "digest") else [body["webhook_id"]]


async def test_a_lone_alert_goes_alone_without_waiting_for_a_batch_to_fill(settings: Settings, receiver: Receiver) -> None:
    await ensure_topics(settings)
    first, second = make_alert(1, "alice"), make_alert(2, "alice")
    async with running_notifier(settings, {"alice": batched(receiver, "alice", 100)}) as process:
        await publish(settings, [(b"alice", first.to_json())])
        # Nothing else is published until it arrives: a notifier waiting for company would never send it.
        assert await wait_until(lambda: len(bodies(receiver, "alice")) == 1, 60)
        await publish(settings, [(b"alice", second.to_json())])
        assert await wait_until(lambda: len(bodies(receiver, "alice")) == 2, 60)
        stats = process.notifier.stats
    received = bodies(receiver, "alice")  # each signature verified
    assert [(b["type"], b["webhook_id"]) for b in received] == [("article.matched", a.webhook_id) for a in (first, second)]
    assert [h.headers["webhook-id"] for h in receiver.delivered()] == [first.webhook_id, second.webhook_id]
    assert stats.batches == 0


async def test_rate_limit_digest_and_deduplication_work_beside_batches(settings: Settings, receiver: Receiver) -> None:
    settings = settings.model_copy(update={"dedup_window": 3600.0})
    await ensure_topics(settings)
    alerts = [make_alert(n, "alice") for n in range(10)]
    repeats = [make_alert(100 + n, "alice") for n in range(2)]  # other articles, same stories as alerts 0 and 1
    stories = [f"id:story-{n}" for n in range(10)] + ["id:story-0", "id:story-1"]
    wire = [make_alert(n, "bob") for n in range(12)]
    endpoints = {"alice": batched(receiver, "alice", 5, RateLimit.of(3, 3)), "bob": batched(receiver, "bob", 5)}
    receiver.delay = 0.3  # while one request is out, the next alerts wait together on the lane
    await away_from_minute_end()
    publisher = KafkaPublisher(settings, client_id="batch-beside-test")
    await publisher.start()
    try:
        await publisher.publish_many(
            [Record(settings.topic("matches"), a.to_json(), b"alice", [(DEDUP_HEADER, json.dumps([s]).encode())])
             for a, s in zip(alerts + repeats, stories)]
            + [Record(settings.topic("matches"), a.to_json(), b"bob") for a in wire])
    finally:
        await publisher.stop()
    async with running_notifier(settings, endpoints) as process:
        assert await wait_until(lambda: any(b["type"] == "digest" for b in bodies(receiver, "alice")), 60)
        assert await wait_until(lambda: sum(len(listed(b)) for b in bodies(receiver, "bob")) >= 12, 60)
        stats = process.notifier.stats
    alice = bodies(receiver, "alice")
    assert sorted(i for b in alice for i in listed(b)) == sorted(a.webhook_id for a in alerts)  # each once, no repeat
    assert sum(len(listed(b)) for b in alice if b["type"] != "digest") == 3  # the limit: 3 a minute, batched or not
    [digest] = [b for b in alice if b["type"] == "digest"]
    assert listed(digest) == [a.webhook_id for a in alerts[3:]]
    bob = bodies(receiver, "bob")
    assert [i for b in bob for i in listed(b)] == [a.webhook_id for a in wire]  # in order, each once
    assert any(b["type"] == "batch" for b in bob) and all(b.get("count", 1) <= 5 for b in bob)
    assert (stats.duplicates, stats.held, stats.digests) == (2, 7, 1)


async def test_an_alert_dead_lettered_from_a_batch_is_replayed_alone(settings: Settings, receiver: Receiver) -> None:
    await ensure_topics(settings)
    alerts = [make_alert(n, "carol") for n in range(3)]
    receiver.fail_first["carol"] = 100
    await publish(settings, [(b"carol", a.to_json()) for a in alerts])
    async with running_notifier(settings, {"carol": batched(receiver, "carol", 10)}) as process:
        assert await wait_until(lambda: process.notifier is not None and process.notifier.stats.given_up >= 1, 60)
        dead = await history.dead_of(settings, "carol")
        assert sorted(d.alert.webhook_id for d in dead) == sorted(a.webhook_id for a in alerts)
        tried = {h.headers["webhook-id"] for h in receiver.hits if h.subscriber == "carol"}
        assert len(tried) == 1 and tried.isdisjoint(a.webhook_id for a in alerts)  # one batch, tried under its own id
        receiver.fail_first["carol"] = 0
        chosen = next(d for d in dead if d.alert.webhook_id == alerts[1].webhook_id)
        assert await history.replay(settings, [chosen]) == 1
        assert await wait_until(lambda: len(bodies(receiver, "carol")) == 1, 60)
    [body] = bodies(receiver, "carol")  # signature verified
    assert (body["type"], body["webhook_id"]) == ("article.matched", alerts[1].webhook_id)
