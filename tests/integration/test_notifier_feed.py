"""API subscriptions take effect in the notifier: the compacted ``rules`` topic on the real broker.

Subscription records are written to ``rules`` directly with the schema models (as the API does).
A subscription active before the notifier starts is read to the end of the feed before any alert,
so its first alert is delivered; one activated while the notifier runs is delivered once the feed
has it (even when its alert is fetched a moment later); a tombstone removes it again (its next
alert is rejected as unknown); a pending one is never delivered to; the ``--rules`` subscribers
keep working alongside, and win over a subscription of the same id.
"""

from __future__ import annotations

import base64

import pytest
from pydantic import SecretStr

from newsalert.adapters.broker import KafkaPublisher, Record
from newsalert.adapters.topics import ensure_topics
from newsalert.config import Settings
from newsalert.schemas.rules import Rule
from newsalert.schemas.rules_feed import RULES_TOPIC, FeedSubscriber, SubscriptionRecord, subscription_key
from newsalert.domain.delivery.endpoints import Endpoint
from tests.integration.test_notifier import (  # noqa: F401 - fixtures
    SECRETS,
    Receiver,
    assert_verifies,
    make_alert,
    publish,
    read_rejected,
    receiver,
    running_notifier,
    settings,
)

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]

API_SECRET = "whsec_" + base64.b64encode(b"an API subscription's key, 32 b").decode()


def subscription(receiver: Receiver, sub_id: str, status: str = "active", revision: int = 1) -> SubscriptionRecord:
    # The receiver routes by path; the API subscriber posts to /hooks/<id>, verified with API_SECRET.
    return SubscriptionRecord(
        id=sub_id, revision=revision, status=status,
        subscriber=FeedSubscriber(id=sub_id, url=receiver.url(sub_id), secret=API_SECRET),
        rules=(Rule(id="r1", query="missiles"),),
    )


async def write_feed(settings: Settings, *entries: tuple[str, SubscriptionRecord | None]) -> None:
    """Write subscription records (None: a tombstone) to the rules topic, acknowledged."""
    publisher = KafkaPublisher(settings, client_id="test-feed")
    await publisher.start()
    try:
        await publisher.publish_many([
            Record(settings.topic(RULES_TOPIC), None if rec is None else rec.to_json(), subscription_key(sub_id))
            for sub_id, rec in entries
        ])
    finally:
        await publisher.stop()


def verified(receiver: Receiver, subscriber: str, secret: str) -> list[str]:
    from standardwebhooks import Webhook

    return [Webhook(secret).verify(h.body, h.headers)["webhook_id"] for h in receiver.delivered() if h.subscriber == subscriber]


async def test_subscription_in_the_feed_before_start_is_delivered_to(settings: Settings, receiver: Receiver) -> None:
    await ensure_topics(settings)
    await write_feed(settings, ("api-desk", subscription(receiver, "api-desk")),
                     ("waiting", subscription(receiver, "waiting", status="pending")))
    first, yaml_one, pending = make_alert(1, "api-desk"), make_alert(2, "alice"), make_alert(3, "waiting")
    yaml_endpoints = {"alice": Endpoint("alice", receiver.url("alice"), (SecretStr(SECRETS["alice"]),))}
    async with running_notifier(settings, yaml_endpoints):
        # Produced right away: the notifier has read the whole feed before its first alert.
        await publish(settings, [(a.subscriber.encode(), a.to_json()) for a in (first, yaml_one, pending)])
        assert not await receiver.wait_for({first.webhook_id, yaml_one.webhook_id}, 60)
        rejected = await read_rejected(settings, 1)
    assert verified(receiver, "api-desk", API_SECRET) == [first.webhook_id]
    assert [assert_verifies(h)["webhook_id"] for h in receiver.delivered() if h.subscriber == "alice"] == [yaml_one.webhook_id]
    assert [r.record_id for r in rejected] == [pending.webhook_id]  # pending: never delivered to
    assert not [h for h in receiver.hits if h.subscriber == "waiting"]


async def test_subscription_added_and_deleted_while_running(settings: Settings, receiver: Receiver) -> None:
    await ensure_topics(settings)
    before, during, after = make_alert(1, "late-desk"), make_alert(2, "late-desk"), make_alert(3, "late-desk")
    async with running_notifier(settings, {}) as process:
        await publish(settings, [(b"late-desk", before.to_json())])  # not a subscriber yet
        rejected = await read_rejected(settings, 1)
        assert [r.record_id for r in rejected] == [before.webhook_id]
        # The subscription and its first alert written back to back: the alert may be fetched
        # before the background reader has the record; the notifier catches up instead of rejecting.
        await write_feed(settings, ("late-desk", subscription(receiver, "late-desk")))
        await publish(settings, [(b"late-desk", during.to_json())])
        assert not await receiver.wait_for({during.webhook_id}, 60)
        await write_feed(settings, ("late-desk", None))  # deleted
        await publish(settings, [(b"late-desk", after.to_json())])
        rejected = await read_rejected(settings, 2)
        stats = process.notifier.stats
    assert [r.record_id for r in rejected] == [before.webhook_id, after.webhook_id]
    assert verified(receiver, "late-desk", API_SECRET) == [during.webhook_id]
    assert (stats.delivered, stats.rejected) == (1, 2)


async def test_yaml_subscriber_wins_over_a_subscription_of_the_same_id(settings: Settings, receiver: Receiver) -> None:
    await ensure_topics(settings)
    record = subscription(receiver, "bob")
    record = record.model_copy(update={"subscriber": FeedSubscriber(id="bob", url=receiver.url("elsewhere"), secret=API_SECRET)})
    await write_feed(settings, ("bob", record))
    alert = make_alert(1, "bob")
    async with running_notifier(settings, {"bob": Endpoint("bob", receiver.url("bob"), (SecretStr(SECRETS["bob"]),))}):
        await publish(settings, [(b"bob", alert.to_json())])
        assert not await receiver.wait_for({alert.webhook_id}, 60)
    [hit] = receiver.delivered()
    assert hit.subscriber == "bob" and assert_verifies(hit)["webhook_id"] == alert.webhook_id
