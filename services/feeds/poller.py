"""One feed's polling: fetch (conditional), parse, publish new entries, remember them, reschedule.

``poll_once`` is one poll; it never raises for a problem of the feed or the broker (those are
counted, logged once per state change and retried on the backoff schedule); a bug does raise.
New entries are published to ``articles`` (``acks=all``, key = article id) before their ids are
written to ``feeds.seen``, and the ETag/Last-Modified of a document are kept only once its new
entries are published: a crash in between publishes some entries twice (consumers de-duplicate
on the id), never loses one.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from typing import Callable

from newsalert.adapters.broker import Publisher, Record
from newsalert.adapters.feed_http import FeedFetcher, Fetched, FetchError
from newsalert.config import Settings
from newsalert.domain.articles import InvalidArticle
from newsalert.domain.feeds.articles import article_id, entry_article
from newsalert.domain.feeds.fulltext import main_text
from newsalert.domain.feeds.parsed import FeedEntry, ParsedFeed, parse_feed
from newsalert.domain.feeds.schedule import PollSchedule
from newsalert.domain.feeds.seen import SeenIds
from newsalert.errors import TransientError
from newsalert.schemas import Article
from newsalert.schemas.article import CLEANED_HEADERS
from newsalert.schemas.feeds import FeedSpec, SeenEntries
from newsalert.services.feeds.metrics import FeedMetrics

log = logging.getLogger("newsalert.feeds")


@dataclass(frozen=True)
class PollResult:
    """What one poll did: ``published`` new articles, or the ``error`` kind that stopped it."""

    published: int = 0
    status: int = 0
    error: str | None = None
    retry_after: float | None = None


@dataclass
class PollerDeps:
    """What every poller shares: settings, HTTP, the broker, metrics, the schedule."""

    settings: Settings
    fetcher: FeedFetcher
    publisher: Publisher
    metrics: FeedMetrics
    schedule: PollSchedule
    rand: Callable[[], float] = random.random


class FeedPoller:
    """Polls one feed; ``run`` forever on its schedule, or ``poll_once`` (tests, ``feeds check``)."""

    def __init__(self, spec: FeedSpec, deps: PollerDeps, seen: SeenIds) -> None:
        self.spec = spec
        self.deps = deps
        self.seen = seen
        self.etag: str | None = None
        self.last_modified: str | None = None
        self.failures = 0
        self.state = "starting"
        self.problem = ""
        self._seen_unsaved = False  # ids published but not yet on feeds.seen

    async def run(self) -> None:
        """Poll, wait the scheduled delay, again, until cancelled."""
        await asyncio.sleep(self.spec.interval_s * self.deps.rand() * self.deps.schedule.jitter)
        while True:
            await asyncio.sleep(await self.poll_and_schedule())

    async def poll_and_schedule(self) -> float:
        """One poll, a log line if the feed's state changed; the seconds until the next poll."""
        result = await self.poll_once()
        delay = self.deps.schedule.next_delay(self.spec.interval_s, self.failures, self.deps.rand(), result.retry_after)
        self._log_state(result, delay)
        return delay

    async def poll_once(self) -> PollResult:
        """Fetch and handle the feed once (see the module docstring)."""
        metrics, feed = self.deps.metrics, self.spec.id
        try:
            fetched = await self.deps.fetcher.get(self.spec.url, self.etag, self.last_modified)
            metrics.last_status.labels(feed).set(fetched.status)
            result = await self._handle(fetched)
        except FetchError as exc:
            metrics.last_status.labels(feed).set(exc.status or 0)
            return self._failed(exc.kind, str(exc), exc.status or 0, exc.retry_after)
        except TransientError as exc:
            return self._failed("broker", f"publishing failed: {exc}", 200)
        if result.error:
            return self._failed(result.error, "the document has no readable feed", result.status)
        self.failures = 0
        metrics.last_success.labels(feed).set(time.time())
        return result

    async def _handle(self, fetched: Fetched) -> PollResult:
        if fetched.not_modified:
            self.deps.metrics.not_modified.labels(self.spec.id).inc()
            return PollResult(0, 304)
        parsed = await asyncio.to_thread(parse_feed, fetched.body, fetched.content_type)
        if parsed.problem:
            self.deps.metrics.warnings.labels(self.spec.id).inc()
            log.warning("feed %s: %s (%d entries read; those are published)", self.spec.id, parsed.problem, len(parsed.entries))
            if not parsed.entries and parsed.title is None:
                return PollResult(0, 200, error="parse")
        published = await self._publish_new(parsed)
        self.etag, self.last_modified = fetched.etag, fetched.last_modified
        return PollResult(published, 200)

    async def _publish_new(self, parsed: ParsedFeed) -> int:
        """Publish the entries not seen before, then record them as seen; the count published."""
        ids = {}
        for entry in parsed.entries:
            item_id = article_id(self.spec.id, entry)
            if item_id is None:
                self.deps.metrics.invalid.labels(self.spec.id).inc()
                log.info("feed %s: an entry without guid or link is skipped (%r)", self.spec.id, (entry.title or "")[:80])
            else:
                ids.setdefault(item_id, entry)
        new = self.seen.unseen(ids)
        articles: list[Article] = []
        if new:
            articles = [a for a in [await self._article(parsed, ids[i]) for i in new] if a is not None]
            topic = self.deps.settings.topic("articles")
            await self.deps.publisher.publish_many([Record(topic, a.to_json(), key=a.id.encode(), headers=CLEANED_HEADERS) for a in articles])
            self.deps.metrics.published.labels(self.spec.id).inc(len(articles))
            self.seen.add(new)
            self._seen_unsaved = True
        if self._seen_unsaved:  # also a record that failed to be written at an earlier poll
            record = SeenEntries(feed=self.spec.id, ids=self.seen.ids())
            await self.deps.publisher.publish(self.deps.settings.topic("feeds.seen"), record.to_json(), key=self.spec.id.encode())
            self._seen_unsaved = False
        return len(articles)

    async def _article(self, parsed: ParsedFeed, entry: FeedEntry) -> Article | None:
        """The entry's article (with its page's main text when ``full_text``), None if invalid."""
        body = await self._full_text(entry) if self.spec.full_text else None
        try:
            return entry_article(self.spec, parsed, entry, body)
        except InvalidArticle as exc:
            self.deps.metrics.invalid.labels(self.spec.id).inc()
            log.warning("feed %s: entry %s is not a valid article: %s", self.spec.id, entry.link or entry.guid, exc)
            return None

    async def _full_text(self, entry: FeedEntry) -> str | None:
        """The main text of the entry's page; None (summary used, failure counted) when unavailable."""
        problem = "it has no link"
        if entry.link:
            try:
                page = await self.deps.fetcher.get(entry.link)
                text = await asyncio.to_thread(main_text, _decoded(page), entry.link)
                if text:
                    return text
                problem = "no main text found in the page"
            except FetchError as exc:
                problem = str(exc)
        self.deps.metrics.full_text_failures.labels(self.spec.id).inc()
        log.info("feed %s: full text of %s unavailable (%s); the summary is used", self.spec.id, entry.link, problem)
        return None

    def _failed(self, kind: str, message: str, status: int, retry_after: float | None = None) -> PollResult:
        self.failures += 1
        self.deps.metrics.errors.labels(self.spec.id, kind).inc()
        self.problem = message
        return PollResult(0, status, error=kind, retry_after=retry_after)

    def _log_state(self, result: PollResult, delay: float) -> None:
        """One log line when the feed's state changes (ok <-> failing, or the failure kind)."""
        state = "ok" if result.error is None else f"failing:{result.error}"
        if state == self.state:
            return
        self.state = state
        if result.error is None:
            log.info("feed %s: ok (HTTP %d, %d new entries); polling every %d s", self.spec.id, result.status, result.published, self.spec.interval_s)
        else:
            log.error("feed %s: %s: %s; next try in %.0f s", self.spec.id, result.error, self.problem, delay)


def _decoded(page: Fetched) -> str:
    """The page as text: its declared charset, else UTF-8 (undecodable bytes replaced)."""
    charset = "utf-8"
    for part in page.content_type.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "charset" and value:
            charset = value.strip('"')
    try:
        return page.body.decode(charset, errors="replace")
    except LookupError:
        return page.body.decode("utf-8", errors="replace")
