"""The notifier on the real broker, delivering to real aiohttp receivers on 127.0.0.1.

In process (``NotifierProcess``): delivery with signatures the reference library accepts, a
malformed record dead-lettered while the next one is still delivered, and an endpoint failing
twice before it succeeds. As a child process (``newsalert serve notifier``): ``kill -9`` in the
middle of a few hundred alerts, restart, and every alert arrives at least once.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from aiokafka import AIOKafkaConsumer
from pydantic import SecretStr
from standardwebhooks import Webhook

from newsalert.domain.alerts import new_alert
from newsalert.adapters.broker import KafkaPublisher, Record
from newsalert.adapters.processes import ServiceProcess, free_port, newsalert_executable
from newsalert.adapters.topics import ensure_topics
from newsalert.config import Settings
from newsalert.schemas import Alert, Article, Highlight, RejectedRecord
from newsalert.domain.delivery.endpoints import Endpoint
from newsalert.services.notifier.main import NotifierProcess

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]

SECRETS = {
    "alice": "whsec_" + base64.b64encode(b"alice's signing key, 32 bytes!!").decode(),
    "bob": "whsec_" + base64.b64encode(b"bob's signing key, also 32 bytes").decode(),
    "carol": "whsec_" + base64.b64encode(b"carol's key, padded to 32 bytes").decode(),
}


@dataclass
class Hit:
    subscriber: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A webhook receiver on the test's loop: records every POST; can fail the first N per path."""

    port: int = field(default_factory=free_port)
    hits: list[Hit] = field(default_factory=list)
    fail_first: dict[str, int] = field(default_factory=dict)  # subscriber -> 500s still to answer
    delay: float = 0.0
    runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        subscriber = request.match_info["subscriber"]
        body = await request.read()
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_first.get(subscriber, 0) > 0:
            self.fail_first[subscriber] -= 1
            self.hits.append(Hit(subscriber, {"status": "500", **request.headers}, body))
            return web.Response(status=500, text="not now")
        self.hits.append(Hit(subscriber, dict(request.headers), body))
        return web.Response(status=204)

    async def start(self) -> "Receiver":
        app = web.Application()
        app.router.add_post("/hooks/{subscriber}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    def url(self, subscriber: str) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/{subscriber}"

    def delivered(self) -> list[Hit]:
        return [h for h in self.hits if h.headers.get("status") != "500"]

    def delivered_ids(self) -> Counter:
        return Counter(h.headers["webhook-id"] for h in self.delivered())

    async def wait_for(self, ids: set[str], timeout: float) -> set[str]:
        """Wait until all ``ids`` were delivered; return those still missing."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not ids <= set(self.delivered_ids()):
            await asyncio.sleep(0.1)
        return ids - set(self.delivered_ids())


@pytest.fixture
async def receiver():
    rec = await Receiver().start()
    yield rec
    await rec.runner.cleanup()


@pytest.fixture
def settings(kafka_settings: Settings) -> Settings:
    """Short retries and commit interval so the tests stay quick."""
    return kafka_settings.model_copy(
        update={"retry_schedule": "0.2,0.3,0.3", "retry_throttle_floor": 0, "breaker_threshold": 100,
                "notifier_commit_interval": 0.2, "webhook_timeout": 5.0}
    )


def make_alert(n: int, subscriber: str, rule: str = "r-missiles") -> Alert:
    article = Article(id=f"a-{n:04d}", title=f"Missiles test number {n}", body="<p>North Korea fired missiles.</p>",
                      url=f"https://news.example/{n}", source="Example News", published="2024-01-02T03:04:05Z")
    highlights = [Highlight(field="title", text="Missiles", start=0, end=8)]
    return new_alert(article, rule, "North Korea AND missiles", subscriber, highlights, ruleset_version="test")


def endpoints_for(receiver: Receiver, *names: str) -> dict[str, Endpoint]:
    return {n: Endpoint(n, receiver.url(n), (SecretStr(SECRETS[n]),)) for n in names}


async def publish(settings: Settings, values: list[tuple[bytes, bytes]]) -> None:
    """Publish (key, value) pairs to ``matches``, acknowledged by the broker."""
    publisher = KafkaPublisher(settings, client_id="test-producer")
    await publisher.start()
    try:
        await publisher.publish_many([Record(settings.topic("matches"), value, key) for key, value in values])
    finally:
        await publisher.stop()


@contextlib.asynccontextmanager
async def running_notifier(settings: Settings, endpoints: dict[str, Endpoint]):
    process = NotifierProcess(settings, endpoints)
    task = asyncio.create_task(process.run())
    try:
        yield process
    finally:
        process.stop()
        await asyncio.wait_for(task, timeout=30)


async def read_rejected(settings: Settings, expected: int, timeout: float = 20) -> list[RejectedRecord]:
    consumer = AIOKafkaConsumer(settings.topic("matches.rejected"), bootstrap_servers=settings.kafka_bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    found: list[RejectedRecord] = []
    try:
        deadline = time.monotonic() + timeout
        while len(found) < expected and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            found += [RejectedRecord.model_validate_json(r.value) for rs in batches.values() for r in rs]
    finally:
        await consumer.stop()
    return found


def assert_verifies(hit: Hit) -> dict:
    """The reference library accepts the signature; returns the parsed body."""
    return Webhook(SECRETS[hit.subscriber]).verify(hit.body, hit.headers)


async def test_delivers_signed_alerts_in_subscriber_order(settings: Settings, receiver: Receiver) -> None:
    await ensure_topics(settings)
    alerts = [make_alert(i, ["alice", "bob"][i % 2]) for i in range(20)]
    await publish(settings, [(a.subscriber.encode(), a.to_json()) for a in alerts])

    async with running_notifier(settings, endpoints_for(receiver, "alice", "bob")):
        missing = await receiver.wait_for({a.webhook_id for a in alerts}, timeout=60)
    assert not missing

    by_id = {a.webhook_id: a for a in alerts}
    for hit in receiver.delivered():
        payload = assert_verifies(hit)
        alert = by_id[hit.headers["webhook-id"]]
        assert hit.subscriber == alert.subscriber == payload["subscriber"]
        assert payload["article"]["id"] == alert.article.id and payload["rule"] == {"id": "r-missiles", "query": "North Korea AND missiles"}
        assert {"id", "title", "url", "source", "published", "excerpt"} <= set(payload["article"])
        assert payload["article"]["excerpt"] == "North Korea fired missiles."
        assert payload["highlights"][0]["text"] == "Missiles" and "matched_at" in payload
        assert hit.headers["Content-Type"] == "application/json"
    # One subscriber's alerts share a key, hence a partition: they arrive in publication order.
    for name in ("alice", "bob"):
        got = [h.headers["webhook-id"] for h in receiver.delivered() if h.subscriber == name]
        assert got == [a.webhook_id for a in alerts if a.subscriber == name]


async def test_malformed_records_are_dead_lettered_and_the_next_alert_still_delivered(settings: Settings, receiver: Receiver) -> None:
    await ensure_topics(settings)
    good_before, good_after = make_alert(1, "alice"), make_alert(2, "alice")
    bad_schema = json.dumps({**json.loads(make_alert(3, "alice").to_json()), "rule": {"id": "r"}}).encode()
    unknown = make_alert(4, "mallory")
    await publish(settings, [
        (b"alice", good_before.to_json()),
        (b"alice", b"{not json"),
        (b"alice", bad_schema),
        (b"mallory", unknown.to_json()),
        (b"alice", good_after.to_json()),
    ])
    async with running_notifier(settings, endpoints_for(receiver, "alice")) as process:
        missing = await receiver.wait_for({good_before.webhook_id, good_after.webhook_id}, timeout=60)
        rejected = await read_rejected(settings, expected=3)
        stats = process.notifier.stats
    assert not missing
    assert stats.rejected == 3
    reasons = sorted(r.reason for r in rejected)
    assert len(rejected) == 3 and all(r.stage == "notifier" and r.topic == settings.topic("matches") for r in rejected)
    assert any("rule.query" in reason for reason in reasons), reasons
    assert any("'mallory' is not in the rule file" in reason for reason in reasons), reasons
    assert any(r.payload == "{not json" for r in rejected)
    assert {r.error_type for r in rejected} == {"ValidationError", "UnknownSubscriber"}


async def test_endpoint_failing_twice_then_succeeding_is_delivered_without_holding_up_others(settings: Settings, receiver: Receiver) -> None:
    await ensure_topics(settings)
    settings = settings.model_copy(update={"retry_schedule": "1,1,1"})
    receiver.fail_first["alice"] = 2
    flaky, healthy = make_alert(1, "alice"), make_alert(2, "bob")
    await publish(settings, [(b"alice", flaky.to_json()), (b"bob", healthy.to_json())])
    async with running_notifier(settings, endpoints_for(receiver, "alice", "bob")) as process:
        missing = await receiver.wait_for({flaky.webhook_id, healthy.webhook_id}, timeout=60)
        stats = process.notifier.stats
    assert not missing
    alice = [h for h in receiver.hits if h.subscriber == "alice"]
    assert [h.headers.get("status") for h in alice] == ["500", "500", None]
    # Each attempt is signed afresh and every signature verifies.
    for hit in receiver.delivered():
        assert_verifies(hit)
    assert stats.delivered == 2 and stats.given_up == 0
    # bob was not queued behind alice's retries (about 2 s of back-off).
    first_bob = next(i for i, h in enumerate(receiver.hits) if h.subscriber == "bob")
    assert first_bob < len(receiver.hits) - 1


async def test_given_up_alert_is_settled_and_committed(settings: Settings, receiver: Receiver) -> None:
    await ensure_topics(settings)
    receiver.fail_first["carol"] = 100
    doomed, later = make_alert(1, "carol"), make_alert(2, "carol")
    await publish(settings, [(b"carol", doomed.to_json()), (b"carol", later.to_json())])
    async with running_notifier(settings, endpoints_for(receiver, "carol")) as process:
        deadline = time.monotonic() + 30
        while process.notifier is None or process.notifier.stats.given_up < 2:
            assert time.monotonic() < deadline, "the notifier never gave up"
            await asyncio.sleep(0.1)
    assert len([h for h in receiver.hits if h.subscriber == "carol"]) == 8  # 4 attempts each
    # Committed: a second notifier of the group starts after both and sends nothing again.
    receiver.fail_first["carol"] = 0
    before = len(receiver.hits)
    async with running_notifier(settings, endpoints_for(receiver, "carol")):
        await asyncio.sleep(4)
    assert len(receiver.hits) == before


async def test_graceful_stop_finishes_in_flight_commits_and_loses_nothing(settings: Settings, receiver: Receiver) -> None:
    await ensure_topics(settings)
    receiver.delay = 0.3
    alerts = [make_alert(i, "alice") for i in range(20)]
    await publish(settings, [(b"alice", a.to_json()) for a in alerts])
    async with running_notifier(settings, endpoints_for(receiver, "alice")):
        while len(receiver.hits) < 3:
            await asyncio.sleep(0.02)
        stop_started = time.monotonic()
    stop_took = time.monotonic() - stop_started
    first_run = len(receiver.delivered_ids())
    assert first_run < len(alerts), "everything was delivered before the stop: the test would prove nothing"
    assert stop_took < 5, f"stopping took {stop_took:.1f} s: it did more than finish the alert in hand"
    receiver.delay = 0
    async with running_notifier(settings, endpoints_for(receiver, "alice")):
        missing = await receiver.wait_for({a.webhook_id for a in alerts}, timeout=60)
    assert not missing
    # The in-flight alert was finished and committed before the stop: nothing comes twice.
    assert max(receiver.delivered_ids().values()) == 1
    assert [h.headers["webhook-id"] for h in receiver.delivered()] == [a.webhook_id for a in alerts]


async def test_second_notifier_joining_mid_stream_rebalances_without_losing_alerts(settings: Settings, receiver: Receiver) -> None:
    settings = settings.model_copy(update={"notifier_max_pending": 10})  # the first cannot take all at once
    await ensure_topics(settings)
    # Slow enough that the first notifier is still busy when the second has joined and read its
    # partitions' de-duplication claims back (with 0.05 s it sometimes finished the lot first).
    receiver.delay = 0.1
    names = ("alice", "bob", "carol")
    alerts = [make_alert(i, names[i % 3]) for i in range(150)]
    await publish(settings, [(a.subscriber.encode(), a.to_json()) for a in alerts])
    endpoints = endpoints_for(receiver, *names)
    async with running_notifier(settings, endpoints) as first:
        while len(receiver.hits) < 20:
            await asyncio.sleep(0.02)
        async with running_notifier(settings, endpoints) as second:
            missing = await receiver.wait_for({a.webhook_id for a in alerts}, timeout=90)
            both = first.notifier.stats.fetched, second.notifier.stats.fetched
    assert not missing
    assert both[1] > 0, "the second notifier never got a partition: no rebalance was exercised"
    assert set(receiver.delivered_ids()) == {a.webhook_id for a in alerts}
    print(f"\nrebalance: fetched {both}, duplicates {sum(n - 1 for n in receiver.delivered_ids().values())}")


# --- crash: kill -9 in the middle of a stream, then restart -----------------------------------


async def ready(url: str, timeout: float) -> bool:
    """Poll ``url`` until it answers 200 with ``ready: true``."""
    import aiohttp

    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(url) as response:
                    if response.status == 200 and (await response.json())["ready"]:
                        return True
            await asyncio.sleep(0.1)
    return False


def write_rules(path: Path, receiver: Receiver) -> Path:
    lines = ["subscribers:"]
    for name in ("alice", "bob", "carol"):
        lines += [f"  - id: {name}", f"    url: {receiver.url(name)}", f"    secret: {SECRETS[name]}"]
    lines += ["rules:", "  - id: r-missiles", "    query: North Korea AND missiles", "    notify: [alice, bob, carol]"]
    path.write_text("\n".join(lines) + "\n")
    return path


async def test_kill_9_mid_stream_then_restart_delivers_every_alert_at_least_once(settings: Settings, receiver: Receiver, tmp_path: Path) -> None:
    await ensure_topics(settings)
    total = 300
    alerts = [make_alert(i, ("alice", "bob", "carol")[i % 3]) for i in range(total)]
    expected = {a.webhook_id for a in alerts}
    await publish(settings, [(a.subscriber.encode(), a.to_json()) for a in alerts])
    receiver.delay = 0.02  # about 2 s per subscriber lane: the kill lands mid-stream

    rules = write_rules(tmp_path / "rules.yaml", receiver)
    env = {
        "NEWSALERT_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "NEWSALERT_TOPIC_PREFIX": settings.topic_prefix,
        "NEWSALERT_ALLOW_PRIVATE_TARGETS": "true",
        "NEWSALERT_NOTIFIER_COMMIT_INTERVAL": "0.5",
    }

    def start(run: int) -> ServiceProcess:
        port = free_port()
        return ServiceProcess(
            f"notifier-{run}", [newsalert_executable(), "serve", "notifier", "--rules", str(rules), "--port", str(port)],
            tmp_path / f"notifier-{run}.log", env=env, health_url=f"http://127.0.0.1:{port}/healthz",
        ).start()

    first = start(1)
    try:
        deadline = time.monotonic() + 60
        while len(receiver.delivered_ids()) < total // 4:
            assert first.alive(), first.log_tail()
            assert time.monotonic() < deadline, f"the notifier delivered only {len(receiver.delivered_ids())}:\n{first.log_tail()}"
            await asyncio.sleep(0.05)
        first.kill()  # SIGKILL: nothing flushed, nothing committed on the way out
        at_kill = len(receiver.delivered_ids())
        assert at_kill < total, "the stream finished before the kill: the test would prove nothing"

        second = start(2)
        try:
            assert await ready(second.health_url.replace("/healthz", "/readyz"), timeout=60), second.log_tail()
            missing = await receiver.wait_for(expected, timeout=90)
        finally:
            assert second.stop() == 0, second.log_tail()  # SIGTERM: a clean, committed exit
    finally:
        first.stop()
    logs = first.log_path.read_text() + second.log_path.read_text()
    assert not any(secret.removeprefix("whsec_") in logs for secret in SECRETS.values())

    counts = receiver.delivered_ids()
    assert not missing, f"{len(missing)} alerts never arrived after the restart"
    assert set(counts) == expected
    for hit in receiver.delivered():
        assert_verifies(hit)
    duplicates = sum(n - 1 for n in counts.values())
    print(f"\nkill -9 after {at_kill}/{total} delivered; after restart {len(counts)} distinct, {duplicates} duplicates")
