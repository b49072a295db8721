"""The matcher as it runs: ``newsalert serve matcher`` as a real process on the real broker.

Each test has its own topic prefix (so its own topics and consumer group), writes a small rule
file, publishes articles with the project's ``KafkaPublisher`` and reads ``matches`` and
``articles.rejected`` back from the beginning. Every wait is bounded.

A record that makes *matching* raise is covered in tests/unit/test_matcher_guard.py with an engine
that raises: no input makes the real engine raise (an over-long highlight, the one candidate found,
is shortened on purpose), and production code has no fault-injection hook.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from newsalert.adapters.broker import KafkaPublisher, Record
from newsalert.adapters.processes import ServiceProcess, free_port, newsalert_executable
from newsalert.adapters.topics import ensure_topics
from newsalert.config import Settings
from newsalert.domain.delivery.ids import webhook_id
from newsalert.schemas import Alert, RejectedRecord
from tests.integration.topic_reader import read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parents[2]

RULES_YAML = """\
subscribers:
  - id: asia
    url: http://127.0.0.1:9/hooks/asia
    secret: whsec_jqKa/frLjjr7/1qzAZgH8OHtWoFZf3Kc
  - id: wire
    url: http://127.0.0.1:9/hooks/wire
    secret: whsec_jsGbmUhWF2CGPbnhiKQ0nINnOYcjz7hn
  - id: europe
    url: http://127.0.0.1:9/hooks/europe
    secret: whsec_xPGRV14ixbYyVGGfxeemokTkLNRpJA5l
rules:
  - id: nk
    query: '"North Korea" AND missile*'
    notify: [asia, wire]
  - id: paris
    query: Paris
    notify: [europe]
  - id: draft
    query: missile*
"""


def article(id: str, title: str, body: str = "", **extra) -> dict:
    return {"id": id, "title": title, "body": body, "url": f"https://news.example/{id}", "source": "Wire", **extra}


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES_YAML)
    return path


class Matcher:
    """Starts and stops ``newsalert serve matcher`` processes for one test (same group each time)."""

    def __init__(self, settings: Settings, rules: Path, log_dir: Path) -> None:
        self.settings = settings
        self.rules = rules
        self.log_dir = log_dir
        self.runs: list[ServiceProcess] = []

    def start(self) -> ServiceProcess:
        port = free_port()
        n = len(self.runs) + 1
        env = {
            "NEWSALERT_KAFKA_BOOTSTRAP": self.settings.kafka_bootstrap,
            "NEWSALERT_TOPIC_PREFIX": self.settings.topic_prefix,
            "NEWSALERT_HOME": str(self.log_dir / "home"),
        }
        proc = ServiceProcess(
            f"matcher-{n}", [newsalert_executable(), "serve", "matcher", "--rules", str(self.rules), "--port", str(port)],
            self.log_dir / f"matcher-{n}.log", env=env, health_url=f"http://127.0.0.1:{port}/readyz", cwd=REPO,
        )
        self.runs.append(proc.start())
        proc.wait_healthy(timeout=90)
        proc.port = port  # type: ignore[attr-defined]
        return proc

    def stop_all(self) -> None:
        for proc in self.runs:
            proc.stop(timeout=30)


@pytest.fixture
def matcher(kafka_settings: Settings, rules_file: Path, tmp_path: Path):
    m = Matcher(kafka_settings, rules_file, tmp_path)
    yield m
    m.stop_all()


async def publish(settings: Settings, records: list[tuple[bytes | None, bytes | None]]) -> list:
    """Publish (key, value) pairs to ``articles``; returns where the broker stored each."""
    publisher = KafkaPublisher(settings)
    await publisher.start()
    try:
        return await publisher.publish_many(Record(settings.topic("articles"), value, key=key) for key, value in records)
    finally:
        await publisher.stop()


def as_record(a: dict) -> tuple[bytes, bytes]:
    return a["id"].encode(), json.dumps(a).encode()


def status(proc: ServiceProcess) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{proc.port}/healthz", timeout=5) as response:  # type: ignore[attr-defined]
        return json.loads(response.read())


async def test_articles_in_alerts_out(kafka_settings: Settings, matcher: Matcher):
    await ensure_topics(kafka_settings)
    nk = article("a-nk", "North Korea fires missiles", "<p>Pyongyang launched two <b>missiles</b> &amp; more.</p>",
                 published="2024-05-01T10:00:00Z")
    paris = article("a-paris", "Strikes in Paris", "Trains stopped.")
    nothing = article("a-none", "Weather", "Sunny.")
    draft_only = article("a-draft", "A missile test elsewhere", "")  # matches only the rule notifying nobody
    await publish(kafka_settings, [as_record(a) for a in (nk, paris, nothing, draft_only)])
    worker = matcher.start()

    records = await read_topic(kafka_settings.kafka_bootstrap, kafka_settings.topic("matches"), expected=3, timeout=60, settle=3)
    alerts = {(r.key.decode(), Alert.model_validate_json(r.value).rule.id, Alert.model_validate_json(r.value).article.id) for r in records}
    assert alerts == {("asia", "nk", "a-nk"), ("wire", "nk", "a-nk"), ("europe", "paris", "a-paris")}
    assert len(records) == 3

    by_key = {r.key.decode(): Alert.model_validate_json(r.value) for r in records}
    asia = by_key["asia"]
    assert asia.subscriber == "asia" and asia.rule.query == '"North Korea" AND missile*'
    assert asia.webhook_id == webhook_id("a-nk", "nk", "asia") != by_key["wire"].webhook_id
    assert asia.article.title == "North Korea fires missiles" and asia.article.url == nk["url"]
    assert asia.article.source == "Wire" and asia.article.published.isoformat() == "2024-05-01T10:00:00+00:00"
    assert asia.article.excerpt == "Pyongyang launched two missiles & more."
    assert {(h.field, h.text) for h in asia.highlights} >= {("title", "North Korea"), ("title", "missiles"), ("body", "missiles")}
    versions = {a.ruleset_version for a in by_key.values()}
    assert len(versions) == 1 and versions.pop()
    assert asia.ingested_at is not None and asia.matched_at >= asia.ingested_at

    rejected = await read_topic(kafka_settings.kafka_bootstrap, kafka_settings.topic("articles.rejected"), expected=0, timeout=1, settle=1)
    assert rejected == []
    health = status(worker)
    assert (health["ready"], health["consumed"], health["alerts"], health["rejected"]) == (True, 4, 3, 0)
    assert health["rules"] == 3 and health["ruleset_version"] == asia.ruleset_version
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/metrics", timeout=5) as response:  # type: ignore[attr-defined]
        metrics = response.read().decode()
    assert "newsalert_matcher_articles_consumed_total 4.0" in metrics
    assert "newsalert_matcher_matches_produced_total 3.0" in metrics
    assert "newsalert_matcher_rules_loaded 3.0" in metrics
    assert f'newsalert_matcher_ruleset_info{{version="{asia.ruleset_version}"}} 1.0' in metrics


async def test_poison_records_are_dead_lettered_and_the_stream_goes_on(kafka_settings: Settings, matcher: Matcher):
    await ensure_topics(kafka_settings)
    good = article("a-after", "Paris marathon", "")
    # One key for all three: same partition, so the good record really comes after the poison ones.
    key = b"same-partition"
    delivered = await publish(kafka_settings, [
        (key, b"{this is not json"),
        (key, json.dumps({"title": "an article without id"}).encode()),
        (key, json.dumps(good).encode()),
    ])
    worker = matcher.start()

    dead = await read_topic(kafka_settings.kafka_bootstrap, kafka_settings.topic("articles.rejected"), expected=2, timeout=60)
    matches = await read_topic(kafka_settings.kafka_bootstrap, kafka_settings.topic("matches"), expected=1, timeout=30)
    letters = sorted((RejectedRecord.model_validate_json(r.value) for r in dead), key=lambda d: d.offset)
    assert len(letters) == 2
    not_json, no_id = letters
    for letter, where in zip(letters, delivered[:2]):
        assert letter.stage == "matcher"
        assert (letter.topic, letter.partition, letter.offset) == (where.topic, where.partition, where.offset)
        assert letter.key == "same-partition"
    assert "not JSON" in not_json.reason and not_json.payload == "{this is not json"
    assert "id: Field required" in no_id.reason and "an article without id" in no_id.payload
    assert [(r.key, Alert.model_validate_json(r.value).article.id) for r in matches] == [(b"europe", "a-after")]
    health = status(worker)
    assert (health["consumed"], health["alerts"], health["rejected"]) == (3, 1, 2)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
async def test_restart_mid_stream_loses_nothing(kafka_settings: Settings, matcher: Matcher, stop_signal: int):
    """Stop the worker while articles are flowing, start it again: every article is matched.

    Each article matches the ``paris`` rule once (one subscriber), so alerts per article = 1 and
    anything above that is a duplicate (allowed: at-least-once; reported, and zero expected for a
    graceful SIGTERM only if faust committed every processed offset on the way out).
    """
    await ensure_topics(kafka_settings)
    total, first_batch = 2000, 1000
    arts = [article(f"p-{i:05d}", f"News from Paris #{i}", "Body text " * 50) for i in range(total)]
    await publish(kafka_settings, [as_record(a) for a in arts[:first_batch]])
    first = matcher.start()

    # Stop it once it has made some progress but is not done: mid-stream by construction.
    deadline = time.monotonic() + 60
    while status(first)["consumed"] < 100 and time.monotonic() < deadline:
        time.sleep(0.05)
    progress = status(first)["consumed"]
    assert 100 <= progress < first_batch, f"stop not mid-stream (consumed {progress} of {first_batch})"
    first.signal(stop_signal)
    first.process.wait(timeout=60)
    if stop_signal == signal.SIGTERM:
        assert first.process.returncode == 0, first.log_tail()

    await publish(kafka_settings, [as_record(a) for a in arts[first_batch:]])
    matcher.start()

    records = await read_topic(kafka_settings.kafka_bootstrap, kafka_settings.topic("matches"), expected=total, timeout=120, settle=3)
    per_article = Counter(Alert.model_validate_json(r.value).article.id for r in records)
    missing = {a["id"] for a in arts} - set(per_article)
    duplicates = sum(n - 1 for n in per_article.values())
    print(f"\n{signal.Signals(stop_signal).name} after {progress} articles: {len(per_article)}/{total} matched, "
          f"{duplicates} duplicate alert(s)")
    assert not missing, f"{len(missing)} articles never matched, e.g. {sorted(missing)[:5]}"
    assert set(per_article) == {a["id"] for a in arts}
    # At-least-once with a bounded redo: at most what was in flight since the last commit.
    assert duplicates <= first_batch


def run_matcher_cli(rules: Path, bootstrap: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "NEWSALERT_KAFKA_BOOTSTRAP": bootstrap, "NEWSALERT_TOPIC_PREFIX": "never-used-"}
    return subprocess.run(
        [newsalert_executable(), "serve", "matcher", "--rules", str(rules), "--port", str(free_port())],
        env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO,
    )


def test_broken_rule_file_exits_1_with_located_errors_before_connecting(tmp_path: Path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES_YAML.replace("query: Paris", "query: 'Paris AND'").replace("[europe]", "[europe, nobody]"))
    # An address nothing listens on: exit status 1 (not 2, "broker unreachable") proves the
    # rules were checked before any connection was attempted.
    result = run_matcher_cli(rules, bootstrap=f"127.0.0.1:{free_port()}")
    assert result.returncode == 1, result.stderr
    lines = rules.read_text().splitlines()
    query_line = lines.index("    query: 'Paris AND'") + 1
    notify_line = lines.index("    notify: [europe, nobody]") + 1
    assert f"{rules}:{query_line}:" in result.stderr and "AND needs a term after it" in result.stderr
    assert f"{rules}:{notify_line}:" in result.stderr and "unknown subscriber 'nobody'" in result.stderr
    assert "2 problem(s)" in result.stderr


def test_unreachable_broker_exits_2_with_the_address(rules_file: Path):
    address = f"127.0.0.1:{free_port()}"
    result = run_matcher_cli(rules_file, bootstrap=address)
    assert result.returncode == 2, result.stderr
    assert f"Kafka at {address} is not reachable" in result.stderr
