"""Delivery that loses nothing, in process on the real broker with real aiohttp endpoints.

Retries through the retry topics with every attempt recorded on ``deliveries.attempts``; dead
letters after the last attempt and ``newsalert deliveries replay`` re-sending them with their
original ``webhook-id``; ``deliveries list`` newest first; 410 disabling a subscriber across a
restart until ``deliveries enable``; the circuit breaker opening, holding back requests and
probing; ``/metrics``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time

import aiohttp
import pytest

from newsalert.adapters.processes import free_port, newsalert_executable
from newsalert.adapters.topics import ensure_topics
from newsalert.config import Settings
from newsalert.schemas import DeadDelivery, DeliveryAttempt
from newsalert.adapters.delivery_history import attempts_of, dead_of
from tests.integration.test_notifier import make_alert, publish, running_notifier
from tests.support.receiver import Answer, ScriptedReceiver, endpoints
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]


@pytest.fixture
async def scripted():
    receiver = await ScriptedReceiver().start()
    yield receiver
    await receiver.close()


@pytest.fixture
def settings(kafka_settings: Settings) -> Settings:
    """A schedule of seconds (1, 1, 2: four attempts), no throttle floor, quick commits."""
    return kafka_settings.model_copy(update={
        "retry_schedule": "1,1,2", "retry_throttle_floor": 0, "breaker_threshold": 100,
        "notifier_commit_interval": 0.2, "webhook_timeout": 5.0,
    })


async def dead_letters(settings: Settings, subscriber: str, count: int, timeout: float = 30) -> list[DeadDelivery]:
    found: list[DeadDelivery] = []

    async def enough() -> bool:
        nonlocal found
        found = await dead_of(settings, subscriber)
        return len(found) >= count

    await wait_until(enough, timeout, f"{count} dead letter(s) of {subscriber}")
    return found


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "NEWSALERT_KAFKA_BOOTSTRAP": settings.kafka_bootstrap, "NEWSALERT_TOPIC_PREFIX": settings.topic_prefix,
           "NEWSALERT_RETRY_SCHEDULE": settings.retry_schedule, "NEWSALERT_RETRY_THROTTLE_FLOOR": str(settings.retry_throttle_floor)}
    result = subprocess.run([newsalert_executable(), *args], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, f"newsalert {' '.join(args)}: {result.stdout}\n{result.stderr}"
    return result



async def test_500s_then_200_delivered_with_every_attempt_recorded_and_listed_newest_first(settings: Settings, scripted: ScriptedReceiver) -> None:
    await ensure_topics(settings)
    scripted.scripts["alice"] = [Answer(500), Answer(503), Answer(500)]
    alert = make_alert(1, "alice")
    await publish(settings, [(b"alice", alert.to_json())])
    async with running_notifier(settings, endpoints(scripted, "alice")) as process:
        assert not await scripted.wait_delivered({alert.webhook_id}, timeout=60)
        stats = process.notifier.stats
        metrics = process.metrics

    hits = scripted.of("alice")
    assert [h.status for h in hits] == [500, 503, 500, 204]
    # The schedule (1, 1, 2 s with ±20 % jitter) separates the attempts: no sleep-free hammering.
    gaps = [b.at - a.at for a, b in zip(hits, hits[1:])]
    assert gaps[0] >= 0.75 and gaps[1] >= 0.75 and gaps[2] >= 1.55, gaps
    assert stats.delivered == 1 and stats.retried == 3 and stats.given_up == 0

    attempts = await attempts_of(settings, "alice")
    assert [a.attempt for a in attempts] == [4, 3, 2, 1]  # newest first
    assert [a.outcome for a in attempts] == ["delivered", "http_error", "http_error", "http_error"]
    assert [a.status_code for a in attempts] == [204, 500, 503, 500]
    assert all(a.webhook_id == alert.webhook_id and a.latency_ms >= 0 for a in attempts)
    assert attempts[0].next_attempt_at is None and all(a.next_attempt_at > a.at for a in attempts[1:])
    assert attempts[1].response_body == "scripted"

    listed = cli(settings, "deliveries", "list", "--subscriber", "alice", "--json").stdout.splitlines()
    assert [DeliveryAttempt.model_validate_json(line).attempt for line in listed] == [4, 3, 2, 1]
    table = cli(settings, "deliveries", "list", "--subscriber", "alice", "--limit", "2").stdout.splitlines()
    assert len(table) == 3 and "delivered" in table[1] and "http_error" in table[2] and "500" in table[2]

    text = metrics_text(metrics)
    assert 'newsalert_notifier_attempts_total{outcome="http_error"} 3.0' in text
    assert 'newsalert_notifier_deliveries_total{result="delivered"} 1.0' in text
    assert 'newsalert_notifier_deliveries_total{result="retry_scheduled"} 3.0' in text
    assert "newsalert_notifier_delivery_seconds_count 4.0" in text


def metrics_text(metrics) -> str:
    from prometheus_client import generate_latest

    return generate_latest(metrics.registry).decode()


async def test_metrics_endpoint_on_the_health_port(settings: Settings, scripted: ScriptedReceiver) -> None:
    from newsalert.services.notifier.main import NotifierProcess

    await ensure_topics(settings)
    alerts = [make_alert(i, "alice") for i in range(3)]
    await publish(settings, [(b"alice", a.to_json()) for a in alerts])
    port = free_port()
    process = NotifierProcess(settings, endpoints(scripted, "alice"), port=port)
    task = asyncio.create_task(process.run())
    try:
        assert not await scripted.wait_delivered({a.webhook_id for a in alerts}, timeout=60)
        await asyncio.sleep(settings.notifier_commit_interval * 3)  # the lag gauges refresh with commits
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                assert response.status == 200
                text = await response.text()
    finally:
        process.stop()
        await asyncio.wait_for(task, 30)
    assert 'newsalert_notifier_deliveries_total{result="delivered"} 3.0' in text
    assert "newsalert_notifier_retries_pending 0.0" in text
    lag_lines = [line for line in text.splitlines() if line.startswith("newsalert_notifier_consumer_lag{")]
    assert any(f'topic="{settings.topic("matches")}"' in line for line in lag_lines), lag_lines
    assert all(line.endswith(" 0.0") for line in lag_lines), lag_lines


async def test_dead_letter_after_the_last_attempt_then_replay_resends_with_the_original_webhook_id(settings: Settings, scripted: ScriptedReceiver) -> None:
    await ensure_topics(settings)
    scripted.default["bob"] = Answer(500)
    doomed = [make_alert(i, "bob") for i in range(2)]
    await publish(settings, [(b"bob", a.to_json()) for a in doomed])
    async with running_notifier(settings, endpoints(scripted, "bob")):
        dead = await dead_letters(settings, "bob", 2, timeout=60)
    assert {d.alert.webhook_id for d in dead} == {a.webhook_id for a in doomed}
    for d in dead:
        assert d.reason == "exhausted" and d.last_error == "HTTP 500"
        assert [a.attempt for a in d.attempts] == [1, 2, 3, 4] and all(a.outcome == "http_error" for a in d.attempts)
    assert len(scripted.of("bob")) == 8 and not scripted.delivered("bob")

    # The endpoint is fixed; replay re-sends the dead alerts, same webhook-id, through the notifier.
    scripted.default["bob"] = Answer(200)
    out = cli(settings, "deliveries", "replay", "--subscriber", "bob", "--since", "1h").stdout
    assert "replayed 2 dead alert(s) of bob" in out
    async with running_notifier(settings, endpoints(scripted, "bob")):
        assert not await scripted.wait_delivered({a.webhook_id for a in doomed}, timeout=60)
    assert scripted.delivered("bob") == {a.webhook_id for a in doomed}
    # --since in the future selects nothing.
    assert "replayed 0 dead alert(s)" in cli(settings, "deliveries", "replay", "--subscriber", "bob", "--since", "2999-01-01").stdout


async def test_410_disables_the_subscriber_across_a_restart_until_enabled(settings: Settings, scripted: ScriptedReceiver) -> None:
    await ensure_topics(settings)
    scripted.scripts["carol"] = [Answer(410)]
    first, second = make_alert(1, "carol"), make_alert(2, "carol")
    healthy = make_alert(3, "alice")
    await publish(settings, [(b"carol", first.to_json()), (b"carol", second.to_json()), (b"alice", healthy.to_json())])
    async with running_notifier(settings, endpoints(scripted, "carol", "alice")):
        dead = await dead_letters(settings, "carol", 2)
        assert not await scripted.wait_delivered({healthy.webhook_id}, timeout=30)
    by_id = {d.alert.webhook_id: d for d in dead}
    assert by_id[first.webhook_id].reason == "gone" and "410" in by_id[first.webhook_id].last_error
    assert by_id[second.webhook_id].reason == "disabled"
    assert len(scripted.of("carol")) == 1, "a disabled subscriber got another request"
    attempts = await attempts_of(settings, "carol")
    assert [(a.attempt, a.outcome, a.status_code) for a in attempts] == [(1, "gone", 410)]

    # The disabled state survives a restart: a new alert is dead-lettered without a request.
    third = make_alert(4, "carol")
    await publish(settings, [(b"carol", third.to_json())])
    async with running_notifier(settings, endpoints(scripted, "carol")) as process:
        dead = await dead_letters(settings, "carol", 3)
        assert process.states.is_disabled("carol")
        assert "410" in process.states.disabled()["carol"].reason
    assert {d.reason for d in dead if d.alert.webhook_id == third.webhook_id} == {"disabled"}
    assert len(scripted.of("carol")) == 1

    # Enabled again (the endpoint is back): new alerts and replayed dead ones are delivered.
    assert "carol enabled" in cli(settings, "deliveries", "enable", "--subscriber", "carol").stdout
    fourth = make_alert(5, "carol")
    await publish(settings, [(b"carol", fourth.to_json())])
    cli(settings, "deliveries", "replay", "--subscriber", "carol")
    async with running_notifier(settings, endpoints(scripted, "carol")):
        missing = await scripted.wait_delivered({first.webhook_id, second.webhook_id, third.webhook_id, fourth.webhook_id}, timeout=60)
    assert not missing


async def test_circuit_breaker_opens_holds_back_requests_and_probes(settings: Settings, scripted: ScriptedReceiver) -> None:
    settings = settings.model_copy(update={"breaker_threshold": 3, "breaker_cooldown": 2.0, "retry_schedule": "0.5,0.5,1,1,2,2,3,3"})
    await ensure_topics(settings)
    scripted.default["dave"] = Answer(500)
    alerts = [make_alert(i, "dave") for i in range(6)]
    await publish(settings, [(b"dave", a.to_json()) for a in alerts])
    async with running_notifier(settings, endpoints(scripted, "dave")) as process:
        async def held_back() -> bool:
            return process.metrics.attempts.labels("circuit_open")._value.get() >= 6

        await wait_until(held_back, 30, "the breaker to hold back requests")
        hits_while_open = len(scripted.of("dave"))
        scripted.default["dave"] = Answer(204)  # the endpoint recovers: the next probe closes the breaker
        assert not await scripted.wait_delivered({a.webhook_id for a in alerts}, timeout=60)
        breakers_open = process.metrics.breakers_open._value.get()

    attempts = await attempts_of(settings, "dave")
    sent = [a for a in attempts if a.outcome != "circuit_open"]
    held = [a for a in attempts if a.outcome == "circuit_open"]
    assert len(sent) == len(scripted.of("dave")), "every request sent is recorded, and only those"
    assert len(held) >= 6 and all(a.status_code is None and "circuit breaker open" in a.error for a in held)
    # While open, far fewer requests than attempts: 3 failures opened it, then one probe per cool-down.
    assert hits_while_open < 3 + 6, hits_while_open
    assert breakers_open == 0


async def test_a_retry_not_yet_due_does_not_hold_up_new_alerts(settings: Settings, scripted: ScriptedReceiver) -> None:
    """The retry partition is paused until due; ``matches`` keeps flowing meanwhile."""
    settings = settings.model_copy(update={"retry_schedule": "6", "matches_partitions": 1})
    await ensure_topics(settings)
    scripted.scripts["erin"] = [Answer(500)]
    slow = make_alert(0, "erin")
    await publish(settings, [(b"erin", slow.to_json())])
    async with running_notifier(settings, endpoints(scripted, "erin")):
        await wait_until(lambda: _true(len(scripted.of("erin")) >= 1), 30, "the first attempt")
        failed_at = time.monotonic()
        fresh = [make_alert(i, "erin") for i in range(1, 6)]
        await publish(settings, [(b"erin", a.to_json()) for a in fresh])
        assert not await scripted.wait_delivered({a.webhook_id for a in fresh}, timeout=30)
        fresh_done = time.monotonic()
        assert not await scripted.wait_delivered({slow.webhook_id}, timeout=30)
    retried_at = next(h.at for h in scripted.of("erin") if h.webhook_id == slow.webhook_id and h.status == 204)
    assert fresh_done - failed_at < 4.8, "new alerts waited for the retry"
    assert retried_at - failed_at >= 4.8, "the retry came before its due time (6 s -20 %)"


async def _true(value: bool) -> bool:
    return value
