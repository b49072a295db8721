"""The feeds service's life: connect, read the seen entries back, run one poller per feed, stop.

Start-up retries the broker (topics, producer, the read-back of ``feeds.seen``) until it answers;
no feed is polled before its seen entries are read back, so a restart publishes nothing again.
"""

from __future__ import annotations

import asyncio
import logging
import os

from newsalert.adapters.broker import KafkaPublisher
from newsalert.adapters.delivery_history import read_keyed
from newsalert.adapters.feed_http import FeedFetcher
from newsalert.adapters.topics import catalogue, ensure_topics
from newsalert.config import Settings
from newsalert.domain.feeds.schedule import PollSchedule
from newsalert.domain.feeds.seen import SeenIds
from newsalert.errors import SetupError, TransientError
from newsalert.schemas.feeds import FeedSpec, SeenEntries
from newsalert.services.feeds.metrics import FeedMetrics
from newsalert.services.feeds.poller import FeedPoller, PollerDeps

log = logging.getLogger("newsalert.feeds")

_CONNECT_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0)
_TOPICS = ("articles", "feeds.seen")


async def read_seen(settings: Settings) -> dict[str, list[str]]:
    """The last ``SeenEntries`` of every feed on ``feeds.seen`` (feed id -> ids, oldest first)."""
    out: dict[str, list[str]] = {}
    for record in await read_keyed(settings, "feeds.seen", SeenEntries, None):
        out[record.feed] = record.ids
    return out


class FeedsService:
    """Every feed of the file, polled on its own schedule by one process."""

    def __init__(self, settings: Settings, feeds: list[FeedSpec], metrics: FeedMetrics | None = None) -> None:
        self.settings = settings
        self.feeds = feeds
        self.metrics = metrics or FeedMetrics()
        self.pollers: list[FeedPoller] = []
        self.ready = False
        self.problem = "connecting to the broker"
        self._publisher: KafkaPublisher | None = None
        self._fetcher: FeedFetcher | None = None
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        """Connect (retrying), read the seen entries back, build the pollers (not yet running)."""
        attempt = 0
        while True:
            try:
                seen = await self._connect()
                break
            except (TransientError, SetupError, OSError) as exc:
                self.problem = f"broker at {self.settings.kafka_bootstrap} not usable: {exc}"
                delay = _CONNECT_DELAYS[min(attempt, len(_CONNECT_DELAYS) - 1)]
                log.warning("%s; retrying in %.1f s", self.problem, delay)
                attempt += 1
                await asyncio.sleep(delay)
        self._fetcher = FeedFetcher(self.settings)
        s = self.settings
        deps = PollerDeps(s, self._fetcher, self._publisher, self.metrics, PollSchedule(s.feeds_jitter, s.feeds_backoff_max, s.feeds_retry_after_max))
        self.pollers = [FeedPoller(f, deps, SeenIds(s.feeds_seen_per_feed, seen.get(f.id, ()))) for f in self.feeds]
        remembered = sum(len(p.seen) for p in self.pollers)
        log.info("feeds: %d feeds, %d entry ids read back from %s", len(self.feeds), remembered, s.topic("feeds.seen"))

    async def _connect(self) -> dict[str, list[str]]:
        wanted = [spec for spec in catalogue(self.settings) if spec.name in _TOPICS]
        await ensure_topics(self.settings, wanted)
        if self._publisher is None:
            publisher = KafkaPublisher(self.settings, client_id="newsalert-feeds")
            await publisher.start()
            self._publisher = publisher
        return await read_seen(self.settings)

    def run_pollers(self) -> None:
        """Start every poller's loop (after ``start``)."""
        self._tasks = [asyncio.create_task(p.run(), name=f"feed-{p.spec.id}") for p in self.pollers]
        for task in self._tasks:
            task.add_done_callback(_crash_on_bug)
        self.ready = True
        self.problem = ""

    async def stop(self) -> None:
        """Cancel the pollers, close HTTP and the producer."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._fetcher is not None:
            await self._fetcher.close()
        if self._publisher is not None:
            await self._publisher.stop()


def _crash_on_bug(task: asyncio.Task) -> None:
    """A poller ends only when cancelled; anything else is a bug: crash loudly for the supervisor."""
    if task.cancelled() or task.exception() is None:
        return
    log.critical("%s crashed (a bug): %r", task.get_name(), task.exception(), exc_info=task.exception())
    os._exit(70)
