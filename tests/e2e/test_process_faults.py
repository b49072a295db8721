"""Process and broker faults: real broker, real services as child processes, a real receiver on
127.0.0.1; every wait bounded.

1. ``kill -9`` of the notifier in the middle of a burst, then a restart: every alert arrives at
   least once; duplicates are counted.
2. ``kill -9`` of the matcher in the middle of a replay, then a restart: no article is lost.
3. The broker stopped (its process really terminated) for 20 s and started again while alerts
   flow: the services recover without being restarted and nothing is lost. This test runs a
   broker of its own (own ports and data dir, shared jar cache), never the shared one on 9092.

Every article carries the word ``Paris``, and the rule ``paris`` matches it, so the expected
alerts are known exactly (``webhook_id(article, rule, subscriber)`` for each subscriber); the
offline ``newsalert match`` is asked too, so the expectation is not only the test's own. The
receiver counts distinct ``webhook-id`` values against that set; each test prints expected,
delivered and duplicates.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import threading
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from aiohttp import web

from newsalert.adapters import local_kafka
from newsalert.adapters.processes import ServiceProcess, newsalert_executable
from newsalert.config import Settings
from newsalert.domain.delivery.ids import webhook_id

from .conftest import REPO, Pipeline, Received, Receiver, expected_alerts

pytestmark = [pytest.mark.kafka]

RULE_ID = "paris"
SECRETS = {
    "s1": "whsec_jqKa/frLjjr7/1qzAZgH8OHtWoFZf3Kc",
    "s2": "whsec_jsGbmUhWF2CGPbnhiKQ0nINnOYcjz7hn",
    "s3": "whsec_xPGRV14ixbYyVGGfxeemokTkLNRpJA5l",
}


# --- helpers --------------------------------------------------------------------------------------
@dataclass
class SlowReceiver(Receiver):
    """The e2e receiver, answering each request after ``delay`` seconds (so a burst takes long
    enough for a fault to land in the middle of it)."""

    delay: float = 0.0

    async def _handle(self, request: web.Request) -> web.Response:
        if self.delay:
            await asyncio.sleep(self.delay)
        body = await request.read()
        with self._lock:
            self.received.append(Received(request.path, dict(request.headers), body, time.time()))
        return web.Response(status=self.status)

    def distinct(self) -> int:
        return len(self.webhook_ids())


@contextmanager
def serving(rec: SlowReceiver) -> Iterator[SlowReceiver]:
    """Run ``rec`` on its port in a background thread until the block ends."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    box: dict = {}

    async def serve() -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", rec._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", rec.port).start()
        box["runner"] = runner
        started.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(serve()), loop.run_forever()), daemon=True)
    thread.start()
    assert started.wait(10), "the test receiver did not start"
    try:
        yield rec
    finally:
        asyncio.run_coroutine_threadsafe(box["runner"].cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@pytest.fixture
def slow_receiver() -> Iterator[SlowReceiver]:
    with serving(SlowReceiver()) as rec:
        yield rec


def write_rules(path: Path, rec: Receiver, subscribers: list[str], secrets: dict[str, str] = SECRETS) -> Path:
    lines = ["subscribers:"]
    for sid in subscribers:
        lines += [f"  - id: {sid}", f"    url: {rec.url(sid)}", f"    secret: {secrets[sid]}"]
    lines += ["rules:", f"  - id: {RULE_ID}", "    query: Paris", f"    notify: [{', '.join(subscribers)}]", ""]
    path.write_text("\n".join(lines))
    return path


def write_articles(path: Path, tag: str, count: int, start: int = 0) -> list[str]:
    """``count`` articles, each mentioning Paris, as JSON Lines; returns their ids."""
    ids = []
    with path.open("w") as out:
        for i in range(start, start + count):
            aid = f"{tag}-{i:05d}"
            ids.append(aid)
            out.write(json.dumps({
                "id": aid, "title": f"Paris bulletin number {i}",
                "body": f"A report filed in Paris, item {i}. " + "Markets, weather and traffic. " * 10,
                "url": f"https://news.example/{aid}", "source": "Fault Wire",
                "published": "2024-03-01T08:00:00Z", "language": "en",
            }) + "\n")
    return ids


def expected_ids(article_ids: list[str], subscribers: list[str]) -> set[str]:
    return {webhook_id(a, RULE_ID, s) for a in article_ids for s in subscribers}


def check_offline(pipe: Pipeline, rules: Path, articles: list[Path], expected: set[str]) -> None:
    """The offline matcher predicts exactly the alerts this test expects."""
    offline = expected_alerts(pipe, rules, *articles)
    predicted = {webhook_id(a, r, s) for (a, r), subs in offline.items() for s in subs}
    assert predicted == expected, f"newsalert match predicts {len(predicted)} alerts, the test expects {len(expected)}"


def health(service: ServiceProcess) -> dict:
    with urllib.request.urlopen(service.health_url, timeout=5) as response:
        return json.loads(response.read())


def wait_until(predicate, timeout: float, what: str, step: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def report(rec: Receiver, expected: set[str], label: str) -> tuple[int, int]:
    """Print and return (delivered distinct, duplicates); fail on alerts nobody expected."""
    counts = rec.webhook_ids()
    unexpected = set(counts) - expected
    assert not unexpected, f"{len(unexpected)} alerts that nobody expected"
    duplicates = sum(n - 1 for n in counts.values())
    print(f"\n{label}: expected {len(expected)} alerts, delivered {len(counts)} distinct, duplicates {duplicates}")
    return len(counts), duplicates


def assert_all_arrived(rec: Receiver, expected: set[str], timeout: float, services: dict[str, ServiceProcess]) -> None:
    missing = rec.wait_for_ids(expected, timeout=timeout)
    if missing:
        tails = "\n".join(f"--- {name} ---\n{svc.log_tail(20)}" for name, svc in services.items())
        raise AssertionError(f"{len(missing)} of {len(expected)} alerts never arrived\n{tails}")


# --- 4. kill -9 of the notifier mid-burst --------------------------------------------------------
@pytest.mark.timeout(300)
def test_notifier_killed_mid_burst_loses_nothing(pipeline, slow_receiver, tmp_path):
    subscribers = ["s1", "s2", "s3"]
    rules = write_rules(tmp_path / "rules.yaml", slow_receiver, subscribers)
    articles = tmp_path / "burst.jsonl"
    expected = expected_ids(write_articles(articles, "burst", 200), subscribers)
    check_offline(pipeline, rules, [articles], expected)
    slow_receiver.delay = 0.01  # three lanes at ~100 requests/s each: the burst takes seconds

    pipeline.start("matcher", "--rules", str(rules))
    first = pipeline.start("notifier", "--rules", str(rules))
    pipeline.cli("replay", str(articles))

    wait_until(lambda: slow_receiver.distinct() >= 100, 120, "the first 100 alerts")
    first.kill()
    at_kill = slow_receiver.distinct()
    assert at_kill < len(expected), f"the kill was not mid-burst ({at_kill} of {len(expected)} already delivered)"

    pipeline.start("notifier", "--rules", str(rules), instance="-2")
    assert_all_arrived(slow_receiver, expected, 180, pipeline.services)
    delivered, duplicates = report(slow_receiver, expected, f"notifier kill -9 after {at_kill} delivered")
    assert delivered == len(expected)


# --- 5. kill -9 of the matcher mid-replay -------------------------------------------------------
@pytest.mark.timeout(300)
def test_matcher_killed_mid_replay_loses_nothing(pipeline, slow_receiver, tmp_path):
    subscribers = ["s1"]
    rules = write_rules(tmp_path / "rules.yaml", slow_receiver, subscribers)
    articles = tmp_path / "replay.jsonl"
    total = 1200
    article_ids = write_articles(articles, "replay", total)
    expected = expected_ids(article_ids, subscribers)
    check_offline(pipeline, rules, [articles], expected)

    first = pipeline.start("matcher", "--rules", str(rules))
    pipeline.start("notifier", "--rules", str(rules))
    replay = subprocess.Popen(
        [newsalert_executable(), "replay", str(articles), "--rate", "150"],
        env={**os.environ, **pipeline.env}, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        wait_until(lambda: health(first)["consumed"] >= 150, 90, "the matcher to consume 150 articles", step=0.1)
        consumed = health(first)["consumed"]
        first.kill()
        assert replay.poll() is None, "the replay ended before the kill: not mid-replay"
        assert consumed < total

        pipeline.start("matcher", "--rules", str(rules), instance="-2")
        output, _ = replay.communicate(timeout=120)
    finally:
        if replay.poll() is None:
            replay.kill()
            replay.wait(10)
    assert replay.returncode == 0, output

    assert_all_arrived(slow_receiver, expected, 180, pipeline.services)
    delivered, duplicates = report(slow_receiver, expected, f"matcher kill -9 after {consumed} consumed")
    assert delivered == total


# --- 6. the broker stopped for 20 s while alerts flow --------------------------------------------
OUTAGE_S = 20.0


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


@pytest.fixture
def private_broker(tmp_path) -> Iterator[local_kafka.BrokerConfig]:
    """A broker of this test only: own ports and data dir, the shared jar cache; stopped after."""
    port, controller = _free_ports(2)
    cfg = local_kafka.BrokerConfig.from_settings(
        Settings(home=tmp_path / "kafka-home", kafka_port=port, kafka_controller_port=controller))
    started = local_kafka.start(cfg, purpose="tests")
    print(f"\nprivate broker {started.version} on {cfg.bootstrap} started in {started.start_seconds:.1f} s")
    try:
        yield cfg
    finally:
        local_kafka.stop(cfg, timeout=20)


@pytest.mark.timeout(420)
def test_broker_stopped_20s_while_alerts_flow(private_broker, topic_prefix, slow_receiver, tmp_path):
    cfg = private_broker
    pipe = Pipeline(env={
        "NEWSALERT_KAFKA_BOOTSTRAP": cfg.bootstrap,
        "NEWSALERT_TOPIC_PREFIX": topic_prefix,
        "NEWSALERT_ALLOW_PRIVATE_TARGETS": "true",
        "NEWSALERT_HOME": str(cfg.home),
    }, log_dir=tmp_path / "logs")
    subscribers = ["s1", "s2"]
    rules = write_rules(tmp_path / "rules.yaml", slow_receiver, subscribers)
    before, after = tmp_path / "before.jsonl", tmp_path / "after.jsonl"
    expected = expected_ids(write_articles(before, "before", 300), subscribers)
    expected |= expected_ids(write_articles(after, "after", 100, start=300), subscribers)
    # Two lanes at ~20 requests/s each: the 600 alerts published before the outage are still
    # being delivered when the broker stops, and the notifier's commits fail meanwhile.
    slow_receiver.delay = 0.05
    try:
        check_offline(pipe, rules, [before, after], expected)
        pipe.cli("topics", "create")
        matcher = pipe.start("matcher", "--rules", str(rules))
        notifier = pipe.start("notifier", "--rules", str(rules))
        pids = {name: svc.pid for name, svc in pipe.services.items()}
        pipe.cli("replay", str(before))
        wait_until(lambda: slow_receiver.distinct() >= 50, 120, "the first 50 alerts")

        stopped = local_kafka.stop(cfg, timeout=30)
        assert stopped.stopped and not stopped.killed, stopped.message
        at_stop = slow_receiver.distinct()
        assert local_kafka.probe("127.0.0.1", cfg.port) is None
        time.sleep(OUTAGE_S)
        during = slow_receiver.distinct() - at_stop
        alive = {name: svc.alive() for name, svc in pipe.services.items()}
        restarted = local_kafka.start(cfg, purpose="tests")
        print(f"\nbroker down {OUTAGE_S:.0f} s (+{restarted.start_seconds:.1f} s to restart); "
              f"{at_stop} delivered before the stop, {during} during the outage; alive meanwhile: {alive}")

        pipe.cli("replay", str(after))
        assert_all_arrived(slow_receiver, expected, 240, pipe.services)
        for name, svc in pipe.services.items():
            assert svc.alive(), f"{name} died:\n{svc.log_tail(30)}"
        assert {name: svc.pid for name, svc in pipe.services.items()} == pids, "a service was restarted"
        assert health(matcher) and health(notifier)
        delivered, duplicates = report(slow_receiver, expected, "broker stopped 20 s")
        assert delivered == len(expected)
    finally:
        pipe.stop_all()
        for service in pipe.services.values():
            print(f"--- {service.name} log tail ---\n{service.log_tail(15)}")


# --- 8. SSRF guard through the notifier -----------------------------------------------------------
def _read(pipe: Pipeline, topic: str, expected: int, timeout: float = 60) -> list[dict]:
    from tests.integration.topic_reader import read_topic, run, values

    return values(run(read_topic(pipe.env["NEWSALERT_KAFKA_BOOTSTRAP"], pipe.env["NEWSALERT_TOPIC_PREFIX"] + topic,
                                 expected=expected, timeout=timeout, settle=1)))


@pytest.mark.timeout(300)
def test_loopback_targets_are_refused_unless_allowed(pipeline, slow_receiver, tmp_path):
    """Subscribers on 127.0.0.1 and [::1]: refused by default with the guard's message in the
    attempt log and a ``blocked`` dead letter, nothing reaches the receiver; then, with
    127.0.0.1 on the allow-list, delivered. (Only loopback here: a child process cannot be
    stopped from really connecting if the guard were broken; 10.0.0.1 and 169.254.169.254 are
    covered in tests/integration/test_http_guard.py with a connect spy.)"""
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "subscribers:\n"
        f"  - id: s1\n    url: {slow_receiver.url('s1')}\n    secret: {SECRETS['s1']}\n"
        f"  - id: s2\n    url: http://[::1]:{slow_receiver.port}/hooks/s2\n    secret: {SECRETS['s2']}\n"
        f"rules:\n  - id: {RULE_ID}\n    query: Paris\n    notify: [s1, s2]\n"
    )
    refused_file, allowed_file = tmp_path / "refused.jsonl", tmp_path / "allowed.jsonl"
    refused = expected_ids(write_articles(refused_file, "refused", 5), ["s1", "s2"])
    allowed = expected_ids(write_articles(allowed_file, "allowed", 5, start=5), ["s1"])

    pipeline.env["NEWSALERT_ALLOW_PRIVATE_TARGETS"] = "false"
    pipeline.start("matcher", "--rules", str(rules))
    notifier = pipeline.start("notifier", "--rules", str(rules))
    pipeline.cli("replay", str(refused_file))

    attempts = _read(pipeline, "deliveries.attempts", expected=len(refused))
    assert {a["webhook_id"] for a in attempts} == refused
    messages = {a["subscriber"]: a["error"] for a in attempts}
    assert all(a["outcome"] == "blocked" and a["attempt"] == 1 for a in attempts), attempts
    assert messages["s1"].startswith("refused by SSRF guard: 127.0.0.1 is a loopback address; set NEWSALERT_ALLOW_PRIVATE_TARGETS")
    assert messages["s2"].startswith("refused by SSRF guard: ::1 is a loopback address")
    dead = _read(pipeline, "deliveries.dead", expected=len(refused))
    assert {d["alert"]["webhook_id"] for d in dead} == refused and {d["reason"] for d in dead} == {"blocked"}
    log = notifier.log_path.read_text()
    assert "refused by SSRF guard: 127.0.0.1 is a loopback address" in log
    assert slow_receiver.snapshot() == [], "a refused alert reached the receiver"
    print(f"\nSSRF default: {len(refused)} alerts refused (blocked, 1 attempt each), 0 received")

    # Allowed through the setting only: 127.0.0.1 on the allow-list, ::1 still refused.
    notifier.stop()
    pipeline.env["NEWSALERT_ALLOWED_TARGET_NETWORKS"] = "127.0.0.1/32"
    pipeline.start("notifier", "--rules", str(rules), instance="-allowed")
    pipeline.cli("replay", str(allowed_file))
    assert_all_arrived(slow_receiver, allowed, 120, pipeline.services)
    report(slow_receiver, allowed, "SSRF allow-list 127.0.0.1/32")
    assert not refused & set(slow_receiver.webhook_ids()), "a dead-lettered alert was delivered"
