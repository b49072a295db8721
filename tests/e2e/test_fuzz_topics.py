"""Fuzzing every consumed topic: random record values and keys, tombstones, missing and random
headers on ``articles`` (the matcher), ``matches`` and a retry topic (the notifier), interleaved
with valid records; garbage on ``rules``, ``deliveries.subscribers`` and ``matches.claims`` before
the services start, with a valid API subscription after it on ``rules`` (matched and delivered); and garbage on
``rules`` while both run, then another subscription that later articles must reach. Both services run as real processes on the real broker and must stay up,
dead-letter each bad record (``articles.rejected``, ``matches.rejected``) and deliver every alert
of the valid records around them. Prints the cases and outcomes (docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import json
import random
import time

import pytest

from newsalert.adapters.broker import KafkaPublisher, Record
from newsalert.adapters.topics import ensure_topics
from newsalert.config import Settings
from newsalert.domain.delivery.ids import webhook_id
from newsalert.schemas.rules import Rule
from newsalert.schemas.rules_feed import FeedSubscriber, SubscriptionRecord, inline_rule_id, subscription_key
from tests.integration.topic_reader import read_topic

from .test_process_faults import RULE_ID, SECRETS, write_articles, write_rules

pytestmark = [pytest.mark.kafka]

BAD_PER_TOPIC = 40
API_SUB = "api-fuzz"
LATE_SUB = "api-fuzz-late"


def garbage(rng: random.Random, n: int) -> list[tuple[bytes | None, bytes | None, list]]:
    """(key, value, headers) of ``n`` bad records of every kind."""
    out = []
    for i in range(n):
        kind = i % 8
        value = [
            rng.randbytes(rng.randint(0, 300)) if i % 16 else b"[" * 100_000,
            None,  # a tombstone
            b"\xff\xfe" + rng.randbytes(20),
            json.dumps(rng.choice([1, "x", [], {}, None, [1, 2]])).encode(),
            json.dumps({"id": 5, "title": ["no"]}).encode(),
            b"{" * 5000,
            json.dumps({"webhook_id": "x", "rule": {}, "article": {}}).encode(),
            json.dumps({"alert": None, "attempt": 0, "due_at": "soon"}).encode(),
        ][kind]
        key = rng.choice([b"", rng.randbytes(8), b"s1"] + ([None] if value is not None else []))
        headers = rng.choice([[], [("dedup", rng.randbytes(10))], [("x", b"")]])
        out.append((key, value, headers))
    return out


async def publish_interleaved(settings: Settings, topic: str, bad: list, good: list[tuple[bytes, bytes]]) -> None:
    records = [Record(topic, v, k, tuple(h)) for k, v, h in bad] + [Record(topic, v, k) for k, v in good]
    random.Random(5).shuffle(records)
    publisher = KafkaPublisher(settings, client_id="fuzz")
    await publisher.start()
    try:
        await publisher.publish_many(records)
    finally:
        await publisher.stop()


def late_subscription_after_garbage(settings: Settings, receiver, rng: random.Random) -> set[str]:
    """While matcher and notifier run: garbage on ``rules``, then another subscription; articles
    published after it (one a second, until one reaches it) must reach it. Returns every alert
    id those articles may give."""
    late = SubscriptionRecord(id=LATE_SUB, status="active", rules=(Rule(id="r1", query="Paris"),),
                              subscriber=FeedSubscriber(id=LATE_SUB, url=receiver.url(LATE_SUB), secret=SECRETS["s3"]))
    keys = [b"ruleset", subscription_key(LATE_SUB), subscription_key(API_SUB)]
    asyncio.run(publish_interleaved(settings, settings.topic("rules"), [(rng.choice(keys), v, h) for _, v, h in garbage(rng, 16)], []))
    asyncio.run(publish_interleaved(settings, settings.topic("rules"), [], [(subscription_key(LATE_SUB), late.to_json())]))
    allowed, reached = set(), set()
    for n in range(60):
        aid = f"late-{n}"
        article = {"id": aid, "title": f"Paris bulletin late {n}", "body": "Filed in Paris.", "url": f"https://news.example/{aid}"}
        asyncio.run(publish_interleaved(settings, settings.topic("articles"), [], [(aid.encode(), json.dumps(article).encode())]))
        allowed |= {webhook_id(aid, RULE_ID, s) for s in ("s1", "s2")} | {webhook_id(aid, inline_rule_id(API_SUB, "r1"), API_SUB)}
        allowed |= (mine := {webhook_id(aid, inline_rule_id(LATE_SUB, "r1"), LATE_SUB)})
        reached |= mine
        if _any_delivered(receiver, reached, timeout=1):
            break
    assert _any_delivered(receiver, reached, timeout=30), "the subscription written after garbage on rules never got an alert"
    return allowed


def _any_delivered(receiver, ids: set[str], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not set(receiver.webhook_ids()) & ids:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.mark.timeout(300)
def test_bad_records_are_dead_lettered_and_the_stream_goes_on(pipeline, receiver, tmp_path):
    subscribers = ["s1", "s2"]
    rules = write_rules(tmp_path / "rules.yaml", receiver, subscribers)
    articles = tmp_path / "articles.jsonl"
    ids = write_articles(articles, "fuzz", 60)
    expected = {webhook_id(a, RULE_ID, s) for a in ids for s in subscribers}
    pipeline.env["NEWSALERT_RETRY_SCHEDULE"] = "1"
    settings = Settings(kafka_bootstrap=pipeline.env["NEWSALERT_KAFKA_BOOTSTRAP"], topic_prefix=pipeline.env["NEWSALERT_TOPIC_PREFIX"])
    rng = random.Random(11)
    # Garbage on the followed topics before the services start; on rules, a valid API subscription
    # after it, whose alerts must be matched and delivered like the rule file's.
    asyncio.run(ensure_topics(settings))
    api = SubscriptionRecord(id=API_SUB, status="active", rules=(Rule(id="r1", query="Paris"),),
                             subscriber=FeedSubscriber(id=API_SUB, url=receiver.url(API_SUB), secret=SECRETS["s3"]))
    for topic, keys in (("rules", [b"ruleset", subscription_key(API_SUB), b"subscription/x"]), ("deliveries.subscribers", [b"s1"]),
                        ("matches.claims", [b"0:1"])):
        asyncio.run(publish_interleaved(settings, settings.topic(topic), [(rng.choice(keys), v, h) for _, v, h in garbage(rng, 16)], []))
    asyncio.run(publish_interleaved(settings, settings.topic("rules"), [], [(subscription_key(API_SUB), api.to_json())]))
    expected |= {webhook_id(a, inline_rule_id(API_SUB, "r1"), API_SUB) for a in ids}
    matcher = pipeline.start("matcher", "--rules", str(rules))
    notifier = pipeline.start("notifier", "--rules", str(rules))
    good_articles = [(a["id"].encode(), json.dumps(a).encode()) for a in map(json.loads, articles.read_text().splitlines())]
    asyncio.run(publish_interleaved(settings, settings.topic("articles"), garbage(rng, BAD_PER_TOPIC), good_articles))
    asyncio.run(publish_interleaved(settings, settings.topic("matches"), garbage(rng, BAD_PER_TOPIC), []))
    asyncio.run(publish_interleaved(settings, settings.topic("deliveries.retry.1s"), garbage(rng, BAD_PER_TOPIC), []))

    missing = receiver.wait_for_ids(expected, timeout=120)
    assert not missing, f"{len(missing)} of {len(expected)} alerts of valid articles never arrived"
    assert matcher.alive() and notifier.alive(), "a service died on bad input"
    delivered_first = len(expected)
    expected |= late_subscription_after_garbage(settings, receiver, rng)
    bootstrap = settings.kafka_bootstrap
    article_dead = asyncio.run(read_topic(bootstrap, settings.topic("articles.rejected"), expected=BAD_PER_TOPIC, timeout=60))
    match_dead = asyncio.run(read_topic(bootstrap, settings.topic("matches.rejected"), expected=2 * BAD_PER_TOPIC, timeout=60))
    assert len(article_dead) >= BAD_PER_TOPIC, f"{BAD_PER_TOPIC} bad articles, {len(article_dead)} dead letters"
    assert len(match_dead) >= 2 * BAD_PER_TOPIC, f"{2 * BAD_PER_TOPIC} bad alerts and retries, {len(match_dead)} dead letters"
    reasons = [json.loads(r.value).get("reason", "")[:60] for r in article_dead + match_dead]
    assert all(reasons), "a dead letter without a reason"
    unexpected = set(receiver.webhook_ids()) - expected
    assert not unexpected, f"{len(unexpected)} deliveries nobody expected"
    print(f"\ntopic fuzz: 16 bad records each on rules, deliveries.subscribers and matches.claims before start, then a valid "
          f"API subscription; {BAD_PER_TOPIC} bad records each on articles, matches and deliveries.retry.1s among "
          f"{len(good_articles)} valid articles; {len(article_dead)} + {len(match_dead)} dead letters, "
          f"all {delivered_first} expected alerts delivered; 16 more on rules while running, then a subscription "
          f"that later articles reached; services alive")
