"""Batched delivery (``batch_max``) on the real broker, to a real aiohttp receiver on 127.0.0.1.

Alerts waiting together on the lane of a subscriber with ``batch_max: 5`` arrive as signed batches
of at most 5 listing every alert once, in order, while an unbatched subscriber on the same topic
gets its alerts alone; a batch whose POST fails is retried as one under the same ``webhook-id``;
a batch given up on is dead-lettered alert by alert.
"""

from __future__ import annotations

import json

import pytest
from pydantic import SecretStr

from newsalert.adapters.delivery_history import dead_of
from newsalert.adapters.topics import ensure_topics
from newsalert.config import Settings
from newsalert.domain.delivery.endpoints import Endpoint
from tests.integration.test_notifier import (  # noqa: F401 - fixtures
    SECRETS,
    Receiver,
    assert_verifies,
    make_alert,
    publish,
    receiver,
    running_notifier,
    settings,
)
from tests.integration.test_notifier_rate_limits import bodies, wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]


def batched(receiver: Receiver, name: str, batch_max: int | None) -> Endpoint:
    return Endpoint(name, receiver.url(name), (SecretStr(SECRETS[name]),), batch_max=batch_max)


def listed(received: list[dict]) -> list[str]:
    """Webhook ids of the alerts in ``received`` bodies (single alerts and batches), in order."""
    return [p["webhook_id"] for b in received for p in (b["alerts"] if b["type"] == "batch" else [b])]


async def test_waiting_alerts_go_in_batches_of_at_most_batch_max(settings: Settings, receiver: Receiver) -> None:
    await ensure_topics(settings)
    alerts = [make_alert(n, "alice") for n in range(12)]
    others = [make_alert(n, "bob") for n in range(4)]
    endpoints = {"alice": batched(receiver, "alice", 5), "bob": batched(receiver, "bob", None)}
    await publish(settings, [(a.subscriber.encode(), a.to_json()) for a in alerts + others])
    async with running_notifier(settings, endpoints) as process:
        assert await wait_until(lambda: len(listed(bodies(receiver, "alice"))) >= 12 and len(bodies(receiver, "bob")) >= 4, 60)
        stats = process.notifier.stats
    received = bodies(receiver, "alice")
    assert listed(received) == [a.webhook_id for a in alerts]  # every alert once, in order
    batches = [b for b in received if b["type"] == "batch"]
    assert batches and all(2 <= b["count"] == len(b["alerts"]) <= 5 and b["subscriber"] == "alice" for b in batches)
    assert all(p["type"] == "article.matched" and p["subscriber"] == "alice" for b in batches for p in b["alerts"])
    for hit in (h for h in receiver.delivered() if h.subscriber == "alice"):
        assert hit.headers["webhook-id"] == json.loads(hit.body)["webhook_id"]
    assert [b["type"] for b in bodies(receiver, "bob")] == ["article.matched"] * 4
    assert stats.batches == len(batches) and stats.batched == sum(b["count"] for b in batches)


async def test_failed_batch_is_retried_as_one_under_the_same_webhook_id(settings: Settings, receiver: Receiver) -> None:
    await ensure_topics(settings)
    alerts = [make_alert(n, "carol") for n in range(4)]
    receiver.fail_first["carol"] = 2
    await publish(settings, [(a.subscriber.encode(), a.to_json()) for a in alerts])
    async with running_notifier(settings, {"carol": batched(receiver, "carol", 10)}):
        assert await wait_until(lambda: bool(receiver.delivered()), 60)
    tries = [h for h in receiver.hits if h.subscriber == "carol"]
    assert [h.headers.get("status") for h in tries] == ["500", "500", None]
    assert len({h.headers["webhook-id"] for h in tries}) == 1
    [body] = bodies(receiver, "carol")
    assert body["type"] == "batch" and [p["webhook_id"] for p in body["alerts"]] == [a.webhook_id for a in alerts]


async def test_batch_given_up_is_dead_lettered_alert_by_alert(settings: Settings, receiver: Receiver) -> None:
    await ensure_topics(settings)
    alerts = [make_alert(n, "carol") for n in range(3)]
    receiver.fail_first["carol"] = 100
    await publish(settings, [(a.subscriber.encode(), a.to_json()) for a in alerts])
    async with running_notifier(settings, {"carol": batched(receiver, "carol", 10)}) as process:
        assert await wait_until(lambda: process.notifier is not None and process.notifier.stats.given_up >= 1, 60)
    tries = [h for h in receiver.hits if h.subscriber == "carol"]
    assert len(tries) == 4 and len({h.headers["webhook-id"] for h in tries}) == 1  # one batch, 4 attempts
    dead = await dead_of(settings, "carol")
    assert sorted(d.alert.webhook_id for d in dead) == sorted(a.webhook_id for a in alerts)
    assert {d.reason for d in dead} == {"exhausted"} and all(len(d.attempts) == 4 for d in dead)
