"""What the console reads from the topics, bounded per page: lags, the last hour's deliveries, the
subscribers' delivery health, recent alerts, and the window of articles the rule tester back-tests.

Every read is a fresh, bounded look at the topics (``newsalert.adapters.topic_tail``), except the
back-test window, which is read once and reused for ``NEWSALERT_CONSOLE_BACKTEST_REFRESH`` seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from pydantic import ValidationError

from newsalert.adapters.delivery_history import read_keyed
from newsalert.adapters.reading import Message
from newsalert.adapters.topic_tail import read_tail
from newsalert.config import Settings
from newsalert.domain.articles import InvalidArticle, cleaned_by_producer, decode_article
from newsalert.domain.backtest import WindowArticle
from newsalert.schemas import Alert, DeadDelivery, DeliveryAttempt, SubscriberState


def _parsed(records: list[Message], model):
    """The records' values parsed as ``model``; unreadable ones are skipped."""
    out = []
    for record in records:
        if record.value is None:
            continue
        try:
            out.append(model.model_validate_json(record.value))
        except ValidationError:
            continue
    return out


@dataclass(frozen=True)
class HourCounts:
    """Deliveries of the last hour: delivered attempts, failed attempts with a retry scheduled,
    alerts dead-lettered."""

    delivered: int
    retried: int
    dead: int


async def last_hour(settings: Settings, now: datetime | None = None) -> HourCounts:
    """Count the last hour's delivery outcomes on ``deliveries.attempts`` and ``deliveries.dead``."""
    since = (now or datetime.now(timezone.utc)) - timedelta(hours=1)
    per = settings.console_attempts_scan
    attempts = [a for a in _parsed(await read_tail(settings, "deliveries.attempts", per, since=since, timeout_s=settings.console_read_timeout), DeliveryAttempt) if a.at >= since]
    dead = [d for d in _parsed(await read_tail(settings, "deliveries.dead", per, since=since, timeout_s=settings.console_read_timeout), DeadDelivery) if d.dead_at >= since]
    return HourCounts(
        delivered=sum(1 for a in attempts if a.outcome == "delivered"),
        retried=sum(1 for a in attempts if a.outcome != "delivered" and a.next_attempt_at is not None),
        dead=len(dead),
    )


@dataclass
class Health:
    """One subscriber's delivery health over the scanned attempts."""

    attempts: int = 0
    delivered: int = 0
    last: DeliveryAttempt | None = None
    dead_waiting: int = 0
    dead_total: int = 0
    state: SubscriberState | None = None

    @property
    def success_rate(self) -> float | None:
        """Delivered attempts / attempts (None without attempts)."""
        return self.delivered / self.attempts if self.attempts else None


async def delivery_health(settings: Settings) -> dict[str, Health]:
    """Per subscriber: attempts and successes among the newest scanned attempts, the last attempt,
    dead letters (all, and those not delivered since), and the latest delivery state."""
    timeout = settings.console_read_timeout
    attempts = _parsed(await read_tail(settings, "deliveries.attempts", settings.console_attempts_scan, timeout_s=timeout), DeliveryAttempt)
    dead = await read_keyed(settings, "deliveries.dead", DeadDelivery, None)
    states = await read_keyed(settings, "deliveries.subscribers", SubscriberState, None)
    out: dict[str, Health] = {}
    delivered_at: dict[str, datetime] = {}
    for a in attempts:
        health = out.setdefault(a.subscriber, Health())
        health.attempts += 1
        if a.outcome == "delivered":
            health.delivered += 1
            delivered_at[a.webhook_id] = max(a.at, delivered_at.get(a.webhook_id, a.at))
        if health.last is None or (a.at, a.attempt) >= (health.last.at, health.last.attempt):
            health.last = a
    latest: dict[str, DeadDelivery] = {d.alert.webhook_id: d for d in dead}
    for d in latest.values():
        health = out.setdefault(d.alert.subscriber, Health())
        health.dead_total += 1
        if delivered_at.get(d.alert.webhook_id, d.dead_at) <= d.dead_at:
            health.dead_waiting += 1
    for state in states:
        out.setdefault(state.subscriber, Health()).state = state
    return out


async def recent_alerts(settings: Settings, subscriber: str = "", rule: str = "", shown: int = 100) -> tuple[list[Alert], Counter]:
    """The newest alerts on ``matches`` (newest first, at most ``shown``), filtered by subscriber and
    rule id when given; and how many alerts each (subscriber, rule) had among those read."""
    records = await read_tail(settings, "matches", settings.console_recent_alerts, timeout_s=settings.console_read_timeout)
    alerts = _parsed(records, Alert)
    seen = Counter((a.subscriber, a.rule.id) for a in alerts)
    kept = [a for a in alerts if (not subscriber or a.subscriber == subscriber) and (not rule or a.rule.id == rule)]
    return list(reversed(kept))[:shown], seen


def _article_of(record: Message) -> WindowArticle | None:
    """The cleaned article of an ``articles`` record and its time, None if it is not one."""
    try:
        article = decode_article(record.value, cleaned=cleaned_by_producer(record.headers))  # as the matcher decodes it
    except InvalidArticle:
        return None
    received = datetime.fromtimestamp(record.timestamp_ms / 1000, timezone.utc) if record.timestamp_ms else datetime.now(timezone.utc)
    at = article.published or received
    return WindowArticle(article, at)


@dataclass
class ArticleWindow:
    """The newest ``NEWSALERT_CONSOLE_BACKTEST_ARTICLES`` articles of the ``articles`` topic, read
    once and reused until they are older than the refresh interval; one read at a time."""

    settings: Settings
    items: list[WindowArticle] = field(default_factory=list)
    read_at: float = 0.0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def get(self) -> list[WindowArticle]:
        """The window, read again first when it is stale."""
        async with self._lock:
            if not self.read_at or time.monotonic() - self.read_at > self.settings.console_backtest_refresh:
                await self._read()
            return self.items

    async def _read(self) -> None:
        wanted = self.settings.console_backtest_articles
        records = await read_tail(self.settings, "articles", wanted, timeout_s=self.settings.console_read_timeout)
        # Each partition gave its newest ``wanted``; keep the newest ``wanted`` of all (by broker time).
        articles = [a for a in map(_article_of, records[-wanted:]) if a is not None]
        self.items = sorted(articles, key=lambda item: item.at)
        self.read_at = time.monotonic()
