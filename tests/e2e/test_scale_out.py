"""Scale-out: two matcher workers and two notifier instances, one consumer group each, on
4-partition topics. Mid-stream one matcher and one notifier are killed with SIGKILL: their
partitions move to the survivors, no alert is lost, and the duplicates are counted and bounded.

Articles are generated (the test never skips): ``ARTICLES`` articles, every ``EVERY``-th one
containing the word the only rule looks for, so the expected alerts are known exactly.

The duplicate bound, and why. Delivery is at least once; a crash repeats work done since the last
commit, and nothing else:

- the killed notifier had at most ``NOTIFIER_MAX_PENDING`` alerts fetched and not committed (it
  stops fetching above that); its successor redelivers at most those;
- the killed matcher redoes the articles it processed since its last commit (commits every
  ``NEWSALERT_MATCHER_COMMIT_INTERVAL`` = 1 s; records fetched but not processed are read again,
  not repeated). Publishing is paced at ``RATE`` articles/s for both workers together, and one
  worker processes less than that (it has half the partitions, and a backlog to catch up would
  need it to be faster than the whole stream), so allowing ``MATCHER_WINDOW_S`` seconds (the
  commit interval plus the acknowledgement of the alerts in flight, with a wide margin) that is at
  most ``RATE * MATCHER_WINDOW_S`` articles, each re-published as ``len(SUBSCRIBERS)`` alerts
  when it matches (one in ``EVERY``).

The survivors give their partitions back during the rebalance after committing what is settled,
so they add nothing in principle; the bound does not count on it being zero either way.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import murmur2

from newsalert.adapters.processes import newsalert_executable
from newsalert.domain.delivery.ids import webhook_id

from .conftest import REPO

PARTITIONS = 4
ARTICLES = 1600
EVERY = 4  # every 4th article matches
RATE = 100  # articles/s, both matcher workers together
WORD = "zebrafish"
RULE_ID = "zebrafish-watch"
NOTIFIER_MAX_PENDING = 200
MATCHER_WINDOW_S = 5
KILL_AFTER_S = 6  # into the stream (of ARTICLES / RATE = 16 s)
FILLER = ("market", "report", "council", "weather", "league", "budget", "harbour", "festival", "railway", "orchard")


def subscribers_covering_partitions(count: int = 8) -> list[str]:
    """``count`` subscriber ids whose keys spread evenly over the ``matches`` partitions (the
    producer's murmur2 partitioner), so both notifiers certainly have alerts to deliver."""
    chosen: dict[int, list[str]] = {p: [] for p in range(PARTITIONS)}
    i = 0
    while any(len(ids) < count // PARTITIONS for ids in chosen.values()):
        sid = f"desk-{i:02d}"
        part = (murmur2(sid.encode()) & 0x7FFFFFFF) % PARTITIONS
        if len(chosen[part]) < count // PARTITIONS:
            chosen[part].append(sid)
        i += 1
    return sorted(s for ids in chosen.values() for s in ids)


SUBSCRIBERS = subscribers_covering_partitions()


def write_articles(path: Path) -> set[str]:
    """The generated stream; returns the ids of the articles that match the rule."""
    matching = set()
    with path.open("w", encoding="utf-8") as handle:
        for i in range(ARTICLES):
            words = [FILLER[(i * 7 + k) % len(FILLER)] for k in range(40)]
            if i % EVERY == 0:
                words[i % 40] = WORD
                matching.add(f"so-{i:05d}")
            article = {"id": f"so-{i:05d}", "title": f"Local item {i}", "body": " ".join(words), "source": "scale-out test"}
            handle.write(json.dumps(article) + "\n")
    return matching


def write_rules(path: Path, receiver) -> None:
    lines = ["subscribers:"]
    secret = "whsec_" + base64.b64encode(b"scale-out test secret: 32 bytes!").decode()  # test only
    for sid in SUBSCRIBERS:
        lines += [f"  - id: {sid}", f"    url: {receiver.url(sid)}", f"    secret: {secret}"]
    lines += ["rules:", f"  - id: {RULE_ID}", f"    query: {WORD}", f"    notify: [{', '.join(SUBSCRIBERS)}]"]
    path.write_text("\n".join(lines) + "\n")


async def partition_count(bootstrap: str, topic: str) -> int:
    """Partitions of ``topic`` as the broker describes it."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        for _ in range(40):  # a topic created a moment ago may not be in the metadata yet
            (described,) = await admin.describe_topics([topic])
            if described["partitions"]:
                return len(described["partitions"])
            await asyncio.sleep(0.25)
        return 0
    finally:
        await admin.close()


def health(service) -> dict:
    with urllib.request.urlopen(service.health_url.replace("/readyz", "/healthz"), timeout=5) as response:
        return json.loads(response.read())


def wait_until(condition, timeout: float, what: str, services=()) -> None:
    """Poll ``condition`` until true; fail with the log of any of ``services`` that exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for service in services:
            assert service.alive(), f"{service.name} exited while waiting for {what}:\n{service.log_tail(20)}"
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.mark.kafka
@pytest.mark.timeout(240)
def test_killing_a_matcher_and_a_notifier_loses_nothing(pipeline, receiver, tmp_path, kafka_bootstrap, topic_prefix):
    pipeline.env.update({
        "NEWSALERT_ARTICLES_PARTITIONS": str(PARTITIONS),
        "NEWSALERT_MATCHES_PARTITIONS": str(PARTITIONS),
        "NEWSALERT_NOTIFIER_MAX_PENDING": str(NOTIFIER_MAX_PENDING),
        "NEWSALERT_MATCHER_COMMIT_INTERVAL": "1",
        "NEWSALERT_CONSUMER_SESSION_TIMEOUT": "6",  # the broker's minimum: partitions move sooner
    })
    for name in ("articles", "matches"):
        count = asyncio.run(partition_count(kafka_bootstrap, topic_prefix + name))
        assert count == PARTITIONS, f"{name} has {count} partitions (the fixture creates the topics with the default count)"
    articles, rules = tmp_path / "articles.jsonl", tmp_path / "rules.yaml"
    matching = write_articles(articles)
    write_rules(rules, receiver)
    expected = {webhook_id(a, RULE_ID, s) for a in matching for s in SUBSCRIBERS}

    matchers = [pipeline.start("matcher", "--rules", str(rules), instance=f"-{i}") for i in (1, 2)]
    notifiers = [pipeline.start("notifier", "--rules", str(rules), instance=f"-{i}") for i in (1, 2)]
    replay = subprocess.Popen(
        [newsalert_executable(), "replay", str(articles), "--rate", str(RATE)],
        env={**os.environ, **pipeline.env}, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        # Both members of each group are working before anything is killed.
        everyone = matchers + notifiers
        wait_until(lambda: all(health(m).get("consumed", 0) > 0 for m in matchers), 60, "both matchers to consume", everyone)
        wait_until(lambda: all(health(n).get("delivered", 0) > 0 for n in notifiers), 60, "both notifiers to deliver", everyone)
        time.sleep(max(0.0, KILL_AFTER_S - 2))
        before_kill = len(receiver.webhook_ids())
        matchers[1].kill()
        notifiers[1].kill()
        assert replay.poll() is None, "the stream ended before the kill: the test would prove nothing"
        print(f"killed matcher-2 and notifier-2 with {before_kill} of {len(expected)} alerts received")

        out, _ = replay.communicate(timeout=120)
        assert replay.returncode == 0, out
        missing = receiver.wait_for_ids(expected, timeout=90)
    finally:
        if replay.poll() is None:
            replay.kill()
    assert not missing, f"{len(missing)} of {len(expected)} alerts never arrived after the kill: {sorted(missing)[:5]}"

    counts = receiver.webhook_ids()
    assert set(counts) == expected, f"unexpected alerts: {sorted(set(counts) - expected)[:5]}"
    duplicates = sum(n - 1 for n in counts.values())
    bound = NOTIFIER_MAX_PENDING + RATE * MATCHER_WINDOW_S // EVERY * len(SUBSCRIBERS)
    survivors = {m.name: health(m).get("consumed") for m in matchers[:1]} | {n.name: health(n).get("delivered") for n in notifiers[:1]}
    print(f"scale-out: {len(expected)} alerts expected, all {len(counts)} delivered; duplicates {duplicates} "
          f"(bound {bound}); survivors' counters {survivors}")
    assert duplicates <= bound, f"{duplicates} duplicates, more than the in-flight bound {bound}"
    # The survivors did the killed instances' share: each consumed more than half.
    assert health(matchers[0]).get("consumed", 0) > ARTICLES // 2
