"""Feeds end to end: ``newsalert serve feeds`` polls a real RSS server on 127.0.0.1, the matcher
and notifier run as real processes, and the seed article, read from the feed, reaches the
subscriber of ``North Korea AND missiles`` signed, exactly once per (article, rule, subscriber)."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from newsalert.domain.delivery.ids import webhook_id
from newsalert.domain.feeds.articles import article_id
from newsalert.domain.feeds.parsed import parse_feed
from newsalert.adapters.rule_files import load_rule_file
from tests import feed_documents as docs
from tests.integration.feed_server import FeedServer, Route

from .test_pipeline_seeds import _rules_for, _secrets, _verifies

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]


@pytest.fixture
def feed_server():
    """A ``FeedServer`` running in a thread of its own (the test body is synchronous)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = asyncio.run_coroutine_threadsafe(FeedServer().start(), loop).result(10)
    yield server
    asyncio.run_coroutine_threadsafe(server.close(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def test_a_feed_entry_reaches_the_webhook_signed(pipeline, receiver, feed_server, tmp_path: Path) -> None:
    document = docs.rss(docs.items(4))
    feed_server.routes["world.xml"] = Route(document)
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(f"feeds:\n  - id: e2e-world\n    url: {feed_server.url('world.xml')}\n    interval: 10s\n")
    rules = _rules_for(receiver, tmp_path)
    ruleset = load_rule_file(rules)
    (nk,) = [rule for rule in ruleset.rules if rule.id == "nk-missiles"]
    seed_id = article_id("e2e-world", parse_feed(document).entries[0])
    expected = {webhook_id(seed_id, nk.id, s) for s in nk.notify}

    pipeline.start("matcher", "--rules", str(rules))
    pipeline.start("notifier", "--rules", str(rules))
    feeds_service = pipeline.start("feeds", "--feeds", str(feeds))

    missing = receiver.wait_for_ids(expected, timeout=120)
    assert not missing, f"the seed article from the feed never reached {sorted(missing)}"
    received = [r for r in receiver.snapshot() if r.headers["webhook-id"] in expected]
    for item in received:
        subscriber = ruleset.subscribers[item.path.rsplit("/", 1)[-1]]
        assert any(_verifies(secret, item) for secret in _secrets(subscriber))
        if subscriber.format != "standard":  # a chat message: the article's link is in its text
            assert docs.items(1)[0]["link"] in json.dumps(item.payload)
            continue
        assert item.payload["article"]["id"] == seed_id
        assert item.payload["article"]["url"] == docs.items(1)[0]["link"]
    assert max(Counter(r.headers["webhook-id"] for r in received).values()) == 1

    port = feeds_service.health_url.rsplit(":", 1)[1].split("/")[0]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as answer:
        assert json.load(answer)["feeds"] == {"e2e-world": "ok"}
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        metrics = answer.read().decode()
    assert 'newsalert_feed_entries_published_total{feed="e2e-world"} 4.0' in metrics
    assert 'newsalert_feed_last_http_status{feed="e2e-world"}' in metrics
