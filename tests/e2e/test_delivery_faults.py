"""Fault injection on delivery: the notifier as a real child process (``newsalert serve
notifier``), the real broker, real aiohttp endpoints on 127.0.0.1 that fail on purpose.

Faults: 500s then 200; a hang past the timeout, 429 with Retry-After, 410, a redirect, a refused
connection; a dead endpoint sharing a partition with a healthy one; a malformed message on
``matches``. Retry schedule ``1,1,2`` (four attempts), no throttle floor
(the 60 s floor is unit-tested), so each test takes seconds. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from aiokafka.partitioner import DefaultPartitioner

from newsalert.adapters.broker import KafkaPublisher, Record
from newsalert.adapters.processes import ServiceProcess, free_port, newsalert_executable
from newsalert.config import Settings
from newsalert.schemas import RejectedRecord, SubscriberState
from newsalert.adapters.delivery_history import attempts_of, dead_of, read_keyed
from tests.integration.test_notifier import make_alert
from tests.support.receiver import Answer, ScriptedReceiver, secret_of

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parents[2]
MATCHES_PARTITIONS = 4


@pytest.fixture
async def scripted():
    receiver = await ScriptedReceiver().start()
    yield receiver
    await receiver.close()


@pytest.fixture
def settings(kafka_bootstrap: str, topic_prefix: str) -> Settings:
    return Settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix, retry_schedule="1,1,2",
                    retry_throttle_floor=0, matches_partitions=MATCHES_PARTITIONS)


def write_rules(path: Path, urls: dict[str, str]) -> Path:
    lines = ["subscribers:"]
    for name, url in urls.items():
        lines += [f"  - id: {name}", f"    url: {url}", f"    secret: {secret_of(name)}"]
    lines += ["rules:", "  - id: r-missiles", "    query: North Korea AND missiles", f"    notify: [{', '.join(urls)}]"]
    path.write_text("\n".join(lines) + "\n")
    return path


async def start_notifier(settings: Settings, rules: Path, log_dir: Path, **env: str) -> ServiceProcess:
    """``newsalert serve notifier`` as a child process, healthy."""
    port = free_port()
    environment = {
        "NEWSALERT_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "NEWSALERT_TOPIC_PREFIX": settings.topic_prefix,
        "NEWSALERT_MATCHES_PARTITIONS": str(settings.matches_partitions),
        "NEWSALERT_RETRY_SCHEDULE": settings.retry_schedule,
        "NEWSALERT_RETRY_THROTTLE_FLOOR": str(settings.retry_throttle_floor),
        "NEWSALERT_ALLOW_PRIVATE_TARGETS": "true",
        "NEWSALERT_NOTIFIER_COMMIT_INTERVAL": "0.5",
        **env,
    }
    service = ServiceProcess("notifier", [newsalert_executable(), "serve", "notifier", "--rules", str(rules), "--port", str(port)],
                             log_dir / "notifier.log", env=environment, health_url=f"http://127.0.0.1:{port}/healthz", cwd=REPO)
    service.start()
    # In a thread: the receiver runs on this loop and must keep answering meanwhile.
    await asyncio.to_thread(service.wait_healthy, 90)
    return service


async def publish(settings: Settings, pairs: list[tuple[bytes, bytes]]) -> list[int]:
    """Publish (key, value) pairs to ``matches``; return the partition of each."""
    publisher = KafkaPublisher(settings, client_id="test-producer")
    await publisher.start()
    try:
        stored = await publisher.publish_many([Record(settings.topic("matches"), v, k) for k, v in pairs])
    finally:
        await publisher.stop()
    return [s.partition for s in stored]


async def wait_dead(settings: Settings, subscriber: str, count: int, timeout: float):
    deadline = time.monotonic() + timeout
    while True:
        found = await dead_of(settings, subscriber)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.5)


async def test_fault_1_endpoint_failing_500_then_200_is_delivered_and_attempts_recorded(settings, scripted, tmp_path) -> None:
    scripted.scripts["alice"] = [Answer(500), Answer(500), Answer(500)]
    rules = write_rules(tmp_path / "rules.yaml", {"alice": scripted.url("alice")})
    notifier = await start_notifier(settings, rules, tmp_path)
    try:
        alerts = [make_alert(i, "alice") for i in range(3)]
        await publish(settings, [(b"alice", a.to_json()) for a in alerts])
        missing = await scripted.wait_delivered({a.webhook_id for a in alerts}, timeout=60)
        assert not missing, notifier.log_tail()
    finally:
        assert notifier.stop() == 0, notifier.log_tail()
    attempts = await attempts_of(settings, "alice")
    by_alert = {a.webhook_id: sorted(x.attempt for x in attempts if x.webhook_id == a.webhook_id) for a in alerts}
    # Three 500s spread over the alerts (a failed alert waits on the retry topic while the next is
    # tried): every alert has attempts 1..n, the last one delivered, six requests in all.
    assert all(numbers == list(range(1, len(numbers) + 1)) for numbers in by_alert.values()), by_alert
    assert sum(len(v) for v in by_alert.values()) == len(scripted.of("alice")) == 6
    last = {a.webhook_id: a for a in sorted(attempts, key=lambda a: a.attempt)}
    assert all(a.outcome == "delivered" for a in last.values())
    assert {a.outcome for a in attempts} == {"http_error", "delivered"}
    assert not await dead_of(settings, "alice")
    print(f"\nfault 1: expected 3, delivered {len(scripted.delivered('alice'))}, attempts {len(attempts)}")


async def test_fault_2_hang_429_410_redirect_and_refused(settings, scripted, tmp_path) -> None:
    refused_url = f"http://127.0.0.1:{free_port()}/hooks/refused"  # nothing listens there
    scripted.scripts["hang"] = [Answer(204, delay=4)]  # past the 1 s timeout once, then fine
    scripted.scripts["limited"] = [Answer(429, {"Retry-After": "2"})]
    scripted.scripts["gone"] = [Answer(410)]
    scripted.default["moved"] = Answer(302, {"Location": f"http://127.0.0.1:{scripted.port}/elsewhere"})
    urls = {name: scripted.url(name) for name in ("hang", "limited", "gone", "moved")} | {"refused": refused_url}
    rules = write_rules(tmp_path / "rules.yaml", urls)
    notifier = await start_notifier(settings, rules, tmp_path, NEWSALERT_WEBHOOK_TIMEOUT="1")
    try:
        alerts = {name: make_alert(1, name) for name in urls}
        second_gone = make_alert(2, "gone")
        await publish(settings, [(n.encode(), a.to_json()) for n, a in alerts.items()] + [(b"gone", second_gone.to_json())])
        missing = await scripted.wait_delivered({alerts["hang"].webhook_id, alerts["limited"].webhook_id}, timeout=60)
        assert not missing, notifier.log_tail()
        dead = {name: await wait_dead(settings, name, count, 60) for name, count in (("gone", 2), ("moved", 1), ("refused", 1))}
    finally:
        assert notifier.stop() == 0, notifier.log_tail()
    log = notifier.log_path.read_text()

    hang = await attempts_of(settings, "hang")
    assert [(a.attempt, a.outcome) for a in reversed(hang)] == [(1, "timeout"), (2, "delivered")]

    limited = list(reversed(await attempts_of(settings, "limited")))
    assert [(a.outcome, a.status_code) for a in limited] == [("rate_limited", 429), ("delivered", 204)]
    # Retry-After 2 with a scheduled 1 s: clamped to [1, 2] -> 2 s, whatever the jitter.
    assert (limited[0].next_attempt_at - limited[0].at).total_seconds() == pytest.approx(2.0)
    hits = scripted.of("limited")
    assert hits[1].at - hits[0].at >= 1.9

    gone_dead = {d.alert.webhook_id: d for d in dead["gone"]}
    assert gone_dead[alerts["gone"].webhook_id].reason == "gone"
    assert gone_dead[second_gone.webhook_id].reason == "disabled"
    assert len(scripted.of("gone")) == 1, "a disabled subscriber got another request"
    assert "subscriber gone disabled" in log  # reported
    assert [s.status for s in await read_keyed(settings, "deliveries.subscribers", SubscriberState, "gone")] == ["disabled"]

    moved = await attempts_of(settings, "moved")
    assert len(moved) == 4 and all(a.outcome == "http_error" and a.status_code == 302 for a in moved)
    assert all("redirects are not followed" in a.error for a in moved)
    assert scripted.other_paths == [], "a redirect was followed"
    assert dead["moved"][0].reason == "exhausted" and len(dead["moved"][0].attempts) == 4

    refused = await attempts_of(settings, "refused")
    assert len(refused) == 4 and all(a.outcome == "connection_error" for a in refused)
    assert dead["refused"][0].reason == "exhausted" and dead["refused"][0].last_error.startswith("Client")


def same_partition_name(key: str, partitions: int) -> str:
    """A subscriber id whose key hashes to the same ``matches`` partition as ``key``."""
    partitioner = DefaultPartitioner()
    everything = list(range(partitions))
    target = partitioner(key.encode(), everything, everything)
    return next(f"dead-{i}" for i in range(1000) if partitioner(f"dead-{i}".encode(), everything, everything) == target)


async def test_fault_3_dead_endpoint_does_not_delay_a_healthy_one_on_the_same_partition(settings, scripted, tmp_path) -> None:
    dead_name = same_partition_name("healthy", settings.matches_partitions)
    scripted.default[dead_name] = Answer(204, delay=30)  # hangs past every timeout
    rules = write_rules(tmp_path / "rules.yaml", {"healthy": scripted.url("healthy"), dead_name: scripted.url(dead_name)})
    # The breaker stays shut: a held-back request is not an attempt, so with it open the five doomed
    # alerts would take one cool-down per attempt (tested in test_breaker_waits); here the point is
    # that a hanging endpoint never holds up a healthy one.
    notifier = await start_notifier(settings, rules, tmp_path, NEWSALERT_WEBHOOK_TIMEOUT="2",
                                    NEWSALERT_BREAKER_THRESHOLD="1000")
    try:
        doomed = [make_alert(i, dead_name) for i in range(5)]
        healthy = [make_alert(i, "healthy") for i in range(40)]
        # Interleaved, dead ones first: every healthy alert sits behind a hanging one in the partition.
        pairs = []
        for i, alert in enumerate(healthy):
            if i % 8 == 0:
                pairs.append((dead_name.encode(), doomed[i // 8].to_json()))
            pairs.append((b"healthy", alert.to_json()))
        published_at = time.monotonic()
        partitions = await publish(settings, pairs)
        assert len(set(partitions)) == 1, "the two subscribers must share a partition"
        missing = await scripted.wait_delivered({a.webhook_id for a in healthy}, timeout=60)
        healthy_done = time.monotonic()
        assert not missing, notifier.log_tail()
        dead = await wait_dead(settings, dead_name, len(doomed), 90)
        dead_done = time.monotonic()
    finally:
        assert notifier.stop() == 0, notifier.log_tail()
    assert len(dead) == len(doomed) and {d.reason for d in dead} == {"exhausted"}
    # The healthy subscriber's alerts all arrived before the dead one's retries were used up...
    first_dead_at = min(d.dead_at for d in dead)
    last_healthy = max(h.at for h in scripted.of("healthy"))
    assert healthy_done < dead_done
    assert time.time() - (time.monotonic() - last_healthy) < first_dead_at.timestamp(), "healthy alerts waited for the dead endpoint"
    # ...and on time: well within one webhook timeout of publication on a loaded machine.
    assert last_healthy - published_at < 10, f"healthy alerts took {last_healthy - published_at:.1f} s"
    attempts = await attempts_of(settings, dead_name)
    print(f"\nfault 3: healthy expected 40 delivered {len(scripted.delivered('healthy'))} in {last_healthy - published_at:.1f} s; "
          f"dead endpoint {len(attempts)} attempts ({sum(a.outcome == 'circuit_open' for a in attempts)} held back by the breaker), "
          f"{len(dead)} dead letters after {dead_done - published_at:.1f} s")


async def test_fault_7_malformed_matches_record_dead_lettered_and_consumer_continues(settings, scripted, tmp_path) -> None:
    from tests.integration.topic_reader import read_topic

    rules = write_rules(tmp_path / "rules.yaml", {"alice": scripted.url("alice")})
    notifier = await start_notifier(settings, rules, tmp_path)
    try:
        before, after = make_alert(1, "alice"), make_alert(2, "alice")
        broken = before.model_dump(mode="json")
        del broken["article"]["id"]
        await publish(settings, [(b"alice", before.to_json()), (b"alice", b"\xff not json"),
                                 (b"alice", json.dumps(broken).encode()), (b"alice", after.to_json())])
        missing = await scripted.wait_delivered({before.webhook_id, after.webhook_id}, timeout=60)
        assert not missing, notifier.log_tail()
        records = await read_topic(settings.kafka_bootstrap, settings.topic("matches.rejected"), expected=2, timeout=30)
    finally:
        assert notifier.stop() == 0, notifier.log_tail()
    rejected = [RejectedRecord.model_validate_json(r.value) for r in records]
    assert len(rejected) == 2 and all(r.stage == "notifier" and r.topic == settings.topic("matches") for r in rejected)
    assert any("article.id" in r.reason and "Field required" in r.reason for r in rejected), [r.reason for r in rejected]
    assert any("Invalid JSON" in r.reason or "json" in r.reason.lower() for r in rejected), [r.reason for r in rejected]
    assert [h.webhook_id for h in scripted.of("alice")] == [before.webhook_id, after.webhook_id]


async def test_kill_9_with_retries_waiting_then_restart_loses_no_retry(settings, scripted, tmp_path) -> None:
    """Retries wait on the retry topic, committed only once re-produced: a crash loses none."""
    settings = settings.model_copy(update={"retry_schedule": "4,1"})
    names = ("alice", "bob")
    for name in names:
        scripted.scripts[name] = [Answer(500)] * 3  # the first three attempts of each subscriber fail
    rules = write_rules(tmp_path / "rules.yaml", {n: scripted.url(n) for n in names})
    first = await start_notifier(settings, rules, tmp_path)
    alerts = [make_alert(i, names[i % 2]) for i in range(6)]
    try:
        await publish(settings, [(a.subscriber.encode(), a.to_json()) for a in alerts])
        deadline = time.monotonic() + 60
        while sum(h.status == 500 for h in scripted.hits) < 6:  # every first failure is on the retry topic
            assert time.monotonic() < deadline and first.alive(), first.log_tail()
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # let the commit of the originals happen (interval 0.5 s)
        first.kill()  # SIGKILL before any retry is due (4 s)
        delivered_before = set(scripted.delivered())
        assert not ({a.webhook_id for a in alerts} <= delivered_before), "all delivered before the kill: proves nothing"
        second = await start_notifier(settings, rules, tmp_path)
        try:
            missing = await scripted.wait_delivered({a.webhook_id for a in alerts}, timeout=90)
            assert not missing, second.log_tail()
        finally:
            assert second.stop() == 0, second.log_tail()
    finally:
        first.stop()
    counts = {a.webhook_id: sum(h.webhook_id == a.webhook_id and h.status == 204 for h in scripted.hits) for a in alerts}
    assert all(n >= 1 for n in counts.values())
    assert not await dead_of(settings, "alice") and not await dead_of(settings, "bob")
    print(f"\nkill -9 with retries waiting: expected {len(alerts)}, delivered {len(counts)}, "
          f"duplicates {sum(n - 1 for n in counts.values())}")
