"""The feeds service against real HTTP servers on 127.0.0.1 and the real broker: new entries reach
``articles`` once, 304s cost nothing, a restart republishes nothing, bad feeds fail alone."""

from __future__ import annotations

import asyncio
import json

import pytest

from newsalert.config import Settings
from newsalert.errors import TransientError
from newsalert.schemas.feeds import FeedSpec
from newsalert.services.feeds.service import FeedsService
from tests import feed_documents as docs

from .feed_server import FeedServer, Route
from .topic_reader import read_topic, values

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]


@pytest.fixture
async def server():
    srv = await FeedServer().start()
    yield srv
    await srv.close()


def _settings(kafka_settings: Settings, **overrides) -> Settings:
    return kafka_settings.model_copy(update={"feeds_timeout": 2.0, "feeds_max_bytes": 256 * 1024, **overrides})


async def _service(settings: Settings, *feeds: FeedSpec) -> FeedsService:
    service = FeedsService(settings, list(feeds))
    await asyncio.wait_for(service.start(), 60)
    return service


def _poller(service: FeedsService, feed_id: str):
    return next(p for p in service.pollers if p.spec.id == feed_id)


async def _articles(settings: Settings, expected: int) -> list[dict]:
    return values(await read_topic(settings.kafka_bootstrap, settings.topic("articles"), expected, timeout=20, settle=0.5))


async def test_new_entries_once_304_and_restart(kafka_settings: Settings, server: FeedServer) -> None:
    settings = _settings(kafka_settings)
    entries = docs.items(4)
    server.routes["rss"] = Route(docs.rss(entries[:3]))
    spec = FeedSpec(id="world", url=server.url("rss"))
    service = await _service(settings, spec)
    try:
        poller = _poller(service, "world")
        first = await poller.poll_once()
        assert (first.published, first.status, first.error) == (3, 200, None)
        again = await poller.poll_once()
        assert (again.published, again.status) == (0, 304)
        assert server.routes["rss"].requests[-1].get("If-None-Match")
        server.routes["rss"].body = docs.rss(entries)  # a new entry appears between polls
        third = await poller.poll_once()
        assert (third.published, third.status) == (1, 200)
    finally:
        await service.stop()
    published = await _articles(settings, 4)
    assert len(published) == 4
    by_url = {a["url"]: a for a in published}  # four partitions: no order across them
    assert set(by_url) == {e["link"] for e in entries}
    seed = by_url[entries[0]["link"]]
    assert (seed["title"], seed["language"], seed["source"]) == (entries[0]["title"], "en-gb", "Example World")

    restarted = await _service(settings, spec)  # the seen ids come back from feeds.seen
    try:
        poller = _poller(restarted, "world")
        assert len(poller.seen) == 4
        result = await poller.poll_once()  # no ETag in memory: a full 200, nothing new
        assert (result.published, result.status) == (0, 200)
    finally:
        await restarted.stop()
    assert len(await _articles(settings, 5)) == 4


async def test_atom_and_json_feed_languages(kafka_settings: Settings, server: FeedServer) -> None:
    settings = _settings(kafka_settings)
    server.routes["atom"] = Route(docs.atom(docs.items(2), lang="fr"), "application/atom+xml")
    server.routes["json"] = Route(docs.json_feed(docs.items(2)[1:], language="de"), "application/feed+json")
    service = await _service(settings, FeedSpec(id="a", url=server.url("atom")), FeedSpec(id="j", url=server.url("json"), source="JSON Desk"))
    try:
        assert (await _poller(service, "a").poll_once()).published == 2
        assert (await _poller(service, "j").poll_once()).published == 1
    finally:
        await service.stop()
    by_feed = {}
    for article in await _articles(settings, 3):
        by_feed.setdefault(article["metadata"]["feed"], []).append(article)
    assert [a["language"] for a in by_feed["a"]] == ["fr", "fr"]
    assert [(a["language"], a["source"]) for a in by_feed["j"]] == [("de", "JSON Desk")]


async def test_bad_feeds_fail_alone(kafka_settings: Settings, server: FeedServer) -> None:
    settings = _settings(kafka_settings)
    good = docs.rss(docs.items(2))
    broken = good.decode().replace("</item><item>", "</item><item><title>unclosed & bad</item><item>", 1).encode()
    server.routes.update({
        "good": Route(good),
        "malformed": Route(broken),
        "slow": Route(good, delay=5),
        "flaky": Route(good, failures=1),
        "loop": Route(redirect_to="loop"),
        "huge": Route(b"<rss>" + b" " * (300 * 1024) + b"</rss>"),
        "busy": Route(good, fail_status=429, failures=1, retry_after="600"),
    })
    feeds = [FeedSpec(id=name, url=server.url(name)) for name in server.routes]
    service = await _service(settings, *feeds)
    try:
        results = dict(zip(server.routes, await asyncio.gather(*(p.poll_once() for p in service.pollers))))
        assert results["good"].published == 2
        assert results["malformed"].published >= 1 and results["malformed"].error is None
        assert results["slow"].error == "timeout"
        assert (results["flaky"].error, results["flaky"].status) == ("http_status", 500)
        assert results["loop"].error == "redirects"
        assert results["huge"].error == "too_large"
        assert (results["busy"].error, results["busy"].retry_after) == ("retry_after", 600)
        busy = _poller(service, "busy")
        assert service.pollers[0].deps.schedule.next_delay(busy.spec.interval_s, busy.failures, 0.5, 600) == 600
        recovered = await _poller(service, "flaky").poll_once()
        assert (recovered.published, recovered.error, _poller(service, "flaky").failures) == (2, None, 0)
        metrics = service.metrics
        assert metrics.errors.labels("slow", "timeout")._value.get() == 1
        assert metrics.warnings.labels("malformed")._value.get() == 1
        assert metrics.last_status.labels("flaky")._value.get() == 200
    finally:
        await service.stop()


async def test_ssrf_guard_applies_to_feeds(kafka_settings: Settings, server: FeedServer) -> None:
    settings = _settings(kafka_settings, allow_private_targets=False)
    server.routes["rss"] = Route(docs.rss(docs.items(1)))
    service = await _service(settings, FeedSpec(id="inside", url=server.url("rss")))
    try:
        result = await _poller(service, "inside").poll_once()
    finally:
        await service.stop()
    assert result.error == "blocked"
    assert server.routes["rss"].requests == []


async def test_full_text_from_the_page_or_the_summary(kafka_settings: Settings, server: FeedServer) -> None:
    settings = _settings(kafka_settings)
    entries = docs.items(2, base_url=f"http://127.0.0.1:{server.port}")
    story = docs.bbc_articles(3)[2]
    paragraphs = "".join(f"<p>{p}</p>" for p in story["body"].split("\n\n") if p.strip())
    page = f"<html><head><title>x</title></head><body><nav>Home | World | Sport</nav><article><h1>{story['title']}</h1>{paragraphs}</article><footer>Cookies policy</footer></body></html>"
    server.routes[f"a/{entries[0]['link'].rsplit('/', 1)[1]}"] = Route(page.encode(), "text/html; charset=utf-8")
    server.routes["rss"] = Route(docs.rss(entries))  # the second entry's page is a 404
    service = await _service(settings, FeedSpec(id="full", url=server.url("rss"), full_text=True))
    try:
        assert (await _poller(service, "full").poll_once()).published == 2
        assert service.metrics.full_text_failures.labels("full")._value.get() == 1
    finally:
        await service.stop()
    bodies = {a["url"]: a["body"] for a in await _articles(settings, 2)}
    full = bodies[entries[0]["link"]]
    assert story["body"].split("\n\n")[1][:60] in full and "Cookies policy" not in full
    assert bodies[entries[1]["link"]].startswith(entries[1]["summary"][:60])


async def test_one_log_line_per_state_change_and_backoff(kafka_settings: Settings, server: FeedServer, caplog) -> None:
    settings = _settings(kafka_settings, feeds_jitter=0.0)
    server.routes["flaky"] = Route(docs.rss(docs.items(1)), failures=2)
    service = await _service(settings, FeedSpec(id="flaky", url=server.url("flaky"), interval="1m"))
    poller = _poller(service, "flaky")
    caplog.set_level("INFO", logger="newsalert.feeds")
    try:
        delays = [await poller.poll_and_schedule() for _ in range(4)]  # 500, 500, 200, 304
    finally:
        await service.stop()
    assert delays == [60, 120, 60, 60]  # the interval doubled per consecutive error, then back
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("feed flaky:")]
    assert len(lines) == 2, lines
    assert "http_status" in lines[0] and "HTTP 500" in lines[0] and "next try in 60 s" in lines[0]
    assert lines[1].startswith("feed flaky: ok (HTTP 200, 1 new entries)")


async def test_seen_ids_not_written_are_written_at_the_next_poll(server: FeedServer) -> None:
    """Articles acknowledged but their feeds.seen record refused: nothing is published twice and the
    record is written at the next poll (in memory: the broker's part is the other tests')."""
    from newsalert.adapters.feed_http import FeedFetcher
    from newsalert.adapters.memory_broker import InMemoryBroker
    from newsalert.domain.feeds.schedule import PollSchedule
    from newsalert.domain.feeds.seen import SeenIds
    from newsalert.services.feeds.metrics import FeedMetrics
    from newsalert.services.feeds.poller import FeedPoller, PollerDeps

    class SeenFailsOnce(InMemoryBroker):
        failed = False

        async def publish(self, topic, value, key=None, headers=()):
            if topic == "feeds.seen" and not self.failed:
                self.failed = True
                raise TransientError("feeds.seen refused once")
            return await super().publish(topic, value, key, headers)

    server.routes["rss"] = Route(docs.rss(docs.items(2)))
    settings = Settings(allow_private_targets=True)
    broker, fetcher = SeenFailsOnce(), FeedFetcher(settings)
    deps = PollerDeps(settings, fetcher, broker, FeedMetrics(), PollSchedule(0.1, 3600, 3600))
    poller = FeedPoller(FeedSpec(id="w", url=server.url("rss")), deps, SeenIds(100))
    try:
        first = await poller.poll_once()
        assert first.error == "broker" and len(broker.messages("articles")) == 2
        second = await poller.poll_once()
        assert (second.error, second.published) == (None, 0)
    finally:
        await fetcher.close()
    assert len(broker.messages("articles")) == 2
    (record,) = broker.messages("feeds.seen")
    assert len(json.loads(record.value)["ids"]) == 2


async def test_fetches_in_flight_are_bounded(kafka_settings: Settings, server: FeedServer) -> None:
    settings = _settings(kafka_settings, feeds_concurrency=2)
    for n in range(6):
        server.routes[f"f{n}"] = Route(docs.rss(docs.items(1)), delay=0.3)
    service = await _service(settings, *(FeedSpec(id=f"f{n}", url=server.url(f"f{n}")) for n in range(6)))
    try:
        results = await asyncio.gather(*(p.poll_once() for p in service.pollers))
    finally:
        await service.stop()
    assert [r.error for r in results] == [None] * 6
    assert server.most_in_flight == 2
