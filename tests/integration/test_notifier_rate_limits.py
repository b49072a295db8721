"""Rate limits and digests on the real broker, delivered to a real aiohttp receiver on 127.0.0.1.

A subscriber allowed 3 alerts a minute gets 3 single alerts and then one signed digest listing
every other one, while an unlimited subscriber on the same topic gets all of its alerts alone; a
digest whose POST fails is retried through the retry topics under the same ``webhook-id``; alerts
held for a digest are not committed, so a notifier stopped before the window ends loses none of
them: the next one delivers them.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from pydantic import SecretStr

from newsalert.adapters.topics import ensure_topics
from newsalert.config import Settings
from newsalert.domain.delivery.ratelimit import RateLimit
from newsalert.domain.delivery.endpoints import Endpoint
from tests.integration.test_notifier import (  # noqa: F401 - fixtures
    SECRETS,
    Hit,
    Receiver,
    assert_verifies,
    make_alert,
    publish,
    receiver,
    running_notifier,
    settings,
)

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]


def endpoint(receiver: Receiver, name: str, per_minute: int | None = None, digest_s: int | None = None) -> Endpoint:
    return Endpoint(name, receiver.url(name), (SecretStr(SECRETS[name]),), RateLimit.of(per_minute, digest_s))


def bodies(receiver: Receiver, subscriber: str) -> list[dict]:
    """Verified bodies of what ``subscriber`` received (each signature checked)."""
    return [assert_verifies(h) for h in receiver.delivered() if h.subscriber == subscriber]


async def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.1)
    return predicate()


async def away_from_minute_end() -> None:
    """The limit counts per calendar minute: start a burst well before a minute ends (waits < 16 s)."""
    left = 60 - time.time() % 60
    if left < 15:
        await asyncio.sleep(left + 0.5)


async def test_three_singles_then_one_digest_listing_all_the_others(settings: Settings, receiver: Receiver) -> None:
    await ensure_topics(settings)
    alerts = [make_alert(n, "alice") for n in range(10)]
    others = [make_alert(n, "bob") for n in range(10)]
    endpoints = {"alice": endpoint(receiver, "alice", per_minute=3, digest_s=3), "bob": endpoint(receiver, "bob")}
    await away_from_minute_end()
    async with running_notifier(settings, endpoints) as process:
        await publish(settings, [(a.subscriber.encode(), a.to_json()) for pair in zip(alerts, others) for a in pair])
        assert await wait_until(lambda: any(b["type"] == "digest" for b in bodies(receiver, "alice")), 60)
        assert not await receiver.wait_for({a.webhook_id for a in others}, 30)
        await asyncio.sleep(1.0)  # nothing more may come
        stats = process.notifier.stats
    received = bodies(receiver, "alice")
    assert [b["type"] for b in received] == ["article.matched"] * 3 + ["digest"]
    assert [b["webhook_id"] for b in received[:3]] == [a.webhook_id for a in alerts[:3]]
    digest = received[3]
    listed = [p["webhook_id"] for p in digest["alerts"]]
    assert listed == [a.webhook_id for a in alerts[3:]]  # every other alert, in order, none lost
    assert digest["count"] == 7 and digest["subscriber"] == "alice"
    hit = next(h for h in receiver.delivered() if h.subscriber == "alice" and json.loads(h.body)["type"] == "digest")
    assert hit.headers["webhook-id"] == digest["webhook_id"] not in listed
    assert digest["window_start"] < digest["window_end"]
    assert sorted(b["webhook_id"] for b in bodies(receiver, "bob")) == sorted(a.webhook_id for a in others)
    assert (stats.held, stats.digests) == (7, 1)


async def test_failed_digest_is_retried_under_the_same_webhook_id(settings: Settings, receiver: Receiver) -> None:
    await ensure_topics(settings)
    alerts = [make_alert(n, "carol") for n in range(4)]
    receiver.fail_first["carol"] = 2
    async with running_notifier(settings, {"carol": endpoint(receiver, "carol", digest_s=2)}):
        await publish(settings, [(a.subscriber.encode(), a.to_json()) for a in alerts])
        assert await wait_until(lambda: bool(receiver.delivered()), 60)
    tries = [h for h in receiver.hits if h.subscriber == "carol"]
    assert [h.headers.get("status") for h in tries] == ["500", "500", None]
    assert len({h.headers["webhook-id"] for h in tries}) == 1
    [body] = bodies(receiver, "carol")
    assert body["type"] == "digest" and [p["webhook_id"] for p in body["alerts"]] == [a.webhook_id for a in alerts]


async def test_held_alerts_are_not_committed_and_survive_a_stop(settings: Settings, receiver: Receiver) -> None:
    await ensure_topics(settings)
    alerts = [make_alert(n, "alice") for n in range(5)]
    async with running_notifier(settings, {"alice": endpoint(receiver, "alice", digest_s=3600)}) as first:
        await publish(settings, [(a.subscriber.encode(), a.to_json()) for a in alerts])
        assert await wait_until(lambda: first.notifier is not None and first.notifier.stats.held == 5, 60)
    assert receiver.hits == []  # the window is an hour: nothing sent, and the stop committed none of them
    async with running_notifier(settings, {"alice": endpoint(receiver, "alice", digest_s=2)}):
        assert await wait_until(lambda: bool(receiver.delivered()), 60)
        await asyncio.sleep(1.0)
    [body] = bodies(receiver, "alice")
    assert [p["webhook_id"] for p in body["alerts"]] == [a.webhook_id for a in alerts]
