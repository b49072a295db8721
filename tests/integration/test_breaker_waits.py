"""The circuit breaker never shortens an alert's life: a request it holds back is not an attempt.

In process on the real broker with a real aiohttp endpoint. A schedule of 1, 1, 2, 2, 3 s (six
attempts) and a breaker that opens after 3 failures for a cool-down longer than most of the
schedule: an endpoint that answers 500 to the first three requests of every alert delivers
every alert (none dead-lettered) with exactly four requests each, the attempt log showing the
waits under the number of the attempt that waited; a healthy subscriber beside it is not
affected; and an endpoint that always fails dead-letters each alert after exactly six *sent*
requests, whatever the breaker held back.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from newsalert.adapters.delivery_history import attempts_of, dead_of
from newsalert.adapters.topics import ensure_topics
from newsalert.config import Settings
from tests.integration.test_notifier import make_alert, publish, running_notifier
from tests.support.receiver import Hit, ScriptedReceiver, endpoints
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]

SCHEDULE = "1,1,2,2,3"  # six attempts in all


@dataclass
class FailsFirstRequests(ScriptedReceiver):
    """Answers 500 to the first ``failures`` requests of every alert of ``flaky`` subscribers, 204 after."""

    failures: int = 3
    flaky: set[str] = field(default_factory=set)
    seen: Counter = field(default_factory=Counter)

    async def _hook(self, request: web.Request) -> web.StreamResponse:
        import time

        subscriber, webhook_id = request.match_info["subscriber"], request.headers.get("webhook-id", "")
        await request.read()
        self.seen[webhook_id] += 1
        status = 500 if subscriber in self.flaky and self.seen[webhook_id] <= self.failures else 204
        self.hits.append(Hit(subscriber, webhook_id, status, time.monotonic(), dict(request.headers)))
        return web.Response(status=status, text="scripted")


@pytest.fixture
async def flaky_receiver():
    receiver = await FailsFirstRequests().start()
    yield receiver
    await receiver.close()


@pytest.fixture
def settings(kafka_settings: Settings) -> Settings:
    return kafka_settings.model_copy(update={
        "retry_schedule": SCHEDULE, "retry_throttle_floor": 0, "breaker_threshold": 3, "breaker_cooldown": 3.0,
        "breaker_cooldown_max": 3.0,  # a fixed cool-down keeps the test short (its growth is unit-tested)
        "notifier_commit_interval": 0.2, "webhook_timeout": 5.0,
    })


async def test_held_back_requests_do_not_use_up_the_schedule(settings: Settings, flaky_receiver: FailsFirstRequests) -> None:
    await ensure_topics(settings)
    flaky_receiver.flaky = {"flaky"}
    flaky = [make_alert(i, "flaky") for i in range(4)]
    healthy = [make_alert(100 + i, "healthy") for i in range(4)]
    await publish(settings, [(b"flaky", a.to_json()) for a in flaky] + [(b"healthy", a.to_json()) for a in healthy])
    async with running_notifier(settings, endpoints(flaky_receiver, "flaky", "healthy")) as process:
        missing = await flaky_receiver.wait_delivered({a.webhook_id for a in flaky + healthy}, timeout=180)
        assert not missing, f"{len(missing)} alert(s) not delivered"
        stats = process.notifier.stats

    assert stats.given_up == 0 and not await dead_of(settings, "flaky") and not await dead_of(settings, "healthy")
    sent = Counter(h.webhook_id for h in flaky_receiver.of("flaky"))
    assert sent == {a.webhook_id: 4 for a in flaky}, "each flaky alert: three 500s, then delivered"
    assert all(n == 1 for n in Counter(h.webhook_id for h in flaky_receiver.of("healthy")).values())

    log = sorted(await attempts_of(settings, "flaky"), key=lambda a: (a.at, a.attempt))
    waits = [a for a in log if a.outcome == "circuit_open"]
    assert waits, "the breaker never held a request back: the scenario did not test it"
    print(f"\n{len(flaky)} flaky alerts: {sum(sent.values())} requests sent, {len(waits)} waits for the breaker, 0 dead")
    for alert in flaky:
        mine = [a for a in log if a.webhook_id == alert.webhook_id]
        real = [a.attempt for a in mine if a.outcome != "circuit_open"]
        assert real == [1, 2, 3, 4], f"real attempts numbered without gaps: {[(a.attempt, a.outcome) for a in mine]}"
        for wait in (a for a in mine if a.outcome == "circuit_open"):
            # A wait carries the number of the attempt that waited, and when it is due.
            assert wait.status_code is None and "not counted as an attempt" in wait.error
            assert wait.next_attempt_at is not None and wait.next_attempt_at > wait.at
            later = [a for a in mine if a.outcome != "circuit_open" and a.at >= wait.at]
            assert later and later[0].attempt == wait.attempt


async def test_dead_lettered_after_exactly_the_schedule_of_sent_requests(settings: Settings, flaky_receiver: FailsFirstRequests) -> None:
    settings = settings.model_copy(update={"breaker_cooldown": 1.0, "breaker_cooldown_max": 1.0,
                                           "retry_schedule": "0.5,0.5,0.5"})  # four attempts
    await ensure_topics(settings)
    flaky_receiver.flaky, flaky_receiver.failures = {"down"}, 10**6
    alerts = [make_alert(i, "down") for i in range(3)]
    await publish(settings, [(b"down", a.to_json()) for a in alerts])
    async with running_notifier(settings, endpoints(flaky_receiver, "down")):
        async def all_dead() -> bool:
            return len(await dead_of(settings, "down")) >= len(alerts)

        await wait_until(all_dead, 180, "every alert dead-lettered")

    dead = await dead_of(settings, "down")
    sent = Counter(h.webhook_id for h in flaky_receiver.of("down"))
    assert sent == {a.webhook_id: 4 for a in alerts}, "len(schedule) + 1 requests sent per alert, no fewer"
    assert {d.reason for d in dead} == {"exhausted"}
    waited = 0
    for letter in dead:
        real = [a.attempt for a in letter.attempts if a.outcome != "circuit_open"]
        assert real == [1, 2, 3, 4]
        waited += sum(a.outcome == "circuit_open" for a in letter.attempts)
        assert letter.last_error == "HTTP 500"
    assert waited, "no dead letter shows a wait for the breaker"
