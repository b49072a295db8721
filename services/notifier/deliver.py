"""One delivery on its lane: the attempt, its follow-up records produced, then its records settled.

The domain decides what follows an attempt (``retry.next_step``, ``follow_up.follow_up``); here
the records are produced together, acknowledged by every in-sync replica, and only then are the
delivery's records settled, so an offset is committed only once its retry or dead letter is
durable: a crash before that redoes the attempt, never skips it.

A *delivered* alert does not hold its lane while its attempt record is acknowledged: the record
joins the tick's batch (``attempt_log``) and the alert settles once the batch is durable.
Retries, dead letters and disabling are still waited for in the lane, so what follows them on the
lane sees their effect.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timezone

from newsalert.adapters.broker import Record
from newsalert.adapters.topics import retry_topic
from newsalert.config import Settings
from newsalert.domain.delivery.follow_up import FollowUp, dead_letters, follow_up
from newsalert.domain.delivery.retry import DEAD, DONE, WAIT, next_step
from newsalert.services.notifier.attempt_log import DeliveredLog
from newsalert.services.notifier.breakers import EndpointBreakers
from newsalert.services.notifier.lanes import Lanes, Work
from newsalert.services.notifier.metrics import NotifierMetrics, NotifierStats
from newsalert.services.notifier.offsets import OffsetTracker
from newsalert.services.notifier.produce import DurablePublisher
from newsalert.services.notifier.states import SubscriberStates

log = logging.getLogger(__name__)


class Deliverer:
    """Makes one delivery and settles it once its follow-up is durable; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        tracker: OffsetTracker,
        breakers: EndpointBreakers,
        producer: DurablePublisher,
        states: SubscriberStates,
        stats: NotifierStats,
        metrics: NotifierMetrics,
        rng: random.Random,
    ) -> None:
        self._settings = settings
        self._tracker = tracker
        self._breakers = breakers
        self._producer = producer
        self._states = states
        self._stats = stats
        self._metrics = metrics
        self._rng = rng
        self._policy = settings.retry_policy()
        self.tiers = self._policy.tiers()
        self._log: DeliveredLog | None = None  # set by ``attach``

    async def handle(self, work: Work) -> None:
        """One attempt at ``work`` and what follows from it, produced; then settle."""
        if not any(self._tracker.is_live(t) for t in work.tickets()):
            return  # its partition(s) were revoked meanwhile: the new owner does it
        subscriber = work.endpoint.subscriber
        if self._states.is_disabled(subscriber):
            await self._dead_disabled(work, self._states.disabled()[subscriber].reason)
            return
        result, attempt = await self._breakers.attempt(work.item, work.endpoint, work.attempt)
        step = next_step(self._policy, work.attempt, result, self._rng)
        outcome = follow_up(work.alert, work.group, work.history, attempt, result, step, self.tiers)
        records = self.records_of(outcome, work.endpoint.subscriber.encode())
        if outcome.action == DONE and self._log is not None:
            self._log.add(work, outcome, records)  # the lane moves on; the alert settles once durable
            return
        if await self._producer.publish(records):
            self._account(work, outcome, result.error)
            self.settle(work)

    def attach(self, lanes: Lanes) -> None:
        """Produce delivered alerts' attempt records in batches, tracked by ``lanes``."""
        self._log = DeliveredLog(self._producer, lanes, self._delivered)

    def records_of(self, outcome: FollowUp, key: bytes) -> list[Record]:
        """The Kafka records of a follow-up, keyed by subscriber."""
        topic = self._settings.topic
        records = [Record(topic("deliveries.attempts"), outcome.attempt.to_json(), key)]
        if outcome.retry is not None:
            records.append(Record(topic(retry_topic(outcome.tier)), outcome.retry.to_json(), key))
        records += [Record(topic("deliveries.dead"), dead.to_json(), key) for dead in outcome.dead]
        if outcome.disable is not None:
            records.append(Record(topic("deliveries.subscribers"), outcome.disable.to_json(), key))
        return records

    def settle(self, work: Work) -> None:
        """Settle every record ``work`` stands for (a digest: each held alert's)."""
        for ticket in work.tickets():
            self._tracker.settle(ticket)

    def _delivered(self, work: Work, outcome: FollowUp) -> None:
        """A delivered alert's attempt record is durable: count it and settle it."""
        self._account(work, outcome, None)
        self.settle(work)

    async def _dead_disabled(self, work: Work, reason: str) -> None:
        """Dead-letter the work of a disabled subscriber without a request."""
        dead = dead_letters(work.alert, work.group, "disabled", f"subscriber disabled: {reason}", work.history, datetime.now(timezone.utc))
        records = [Record(self._settings.topic("deliveries.dead"), d.to_json(), work.endpoint.subscriber.encode()) for d in dead]
        if await self._producer.publish(records):
            self._count_dead("disabled", work)
            self.settle(work)

    def _account(self, work: Work, outcome: FollowUp, error: str | None) -> None:
        """Count and log a follow-up that is durable (and apply a disabling at once)."""
        item, sub = work.item, work.endpoint.subscriber
        if outcome.action == DONE:
            self._stats.delivered += 1
            self._metrics.count_delivery("delivered", _alerts_in(work))
            if work.digest is not None:
                self._stats.digests += 1
            if work.batch is not None:
                self._stats.batches += 1
                self._stats.batched += len(work.batch.alerts)
            log.debug("delivered %s to %s at attempt %d", item.webhook_id, sub, work.attempt)
        elif outcome.action == DEAD:
            if outcome.disable is not None:
                self._states.apply(outcome.disable)
                log.error("subscriber %s disabled: %s answered 410 Gone (alert %s); its alerts are dead-lettered "
                          "until `newsalert deliveries enable --subscriber %s`", sub, work.endpoint.safe_url, item.webhook_id, sub)
            self._count_dead(outcome.dead_reason, work, error)
        elif outcome.action == WAIT:
            self._metrics.count_delivery("breaker_wait", _alerts_in(work))
            delay = (outcome.retry.due_at - outcome.attempt.at).total_seconds()
            log.debug("delivery of %s to %s held back by the circuit breaker (attempt %d/%d not sent); waiting %.1f s",
                      item.webhook_id, sub, work.attempt, self._policy.max_attempts, delay)
        else:
            self._stats.retried += 1
            self._metrics.count_delivery("retry_scheduled", _alerts_in(work))
            delay = (outcome.retry.due_at - outcome.attempt.at).total_seconds()
            # The endpoint's outage report logs its failures (a few lines per outage); each retry only at DEBUG.
            log.debug("delivery of %s to %s (%s) attempt %d/%d failed: %s; next attempt in %.1f s", item.webhook_id, sub,
                      work.endpoint.safe_url, work.attempt, self._policy.max_attempts, error, delay)

    def _count_dead(self, reason: str, work: Work, error: str | None = None) -> None:
        self._stats.given_up += 1
        self._metrics.count_delivery("dead", _alerts_in(work))
        attempts = work.attempt if reason != "disabled" else 0
        if work.group is not None:
            log.error("gave up delivering %s %s (%d alerts) to %s after %d attempt(s), %s: %s; each alert is "
                      "dead-lettered", "digest" if work.digest else "batch", work.group.webhook_id, len(work.group.alerts),
                      work.endpoint.subscriber,
                      attempts, reason, error or reason)
            return
        log.error("gave up delivering %s (rule %s, article %s) to %s after %d attempt(s), %s: %s",
                  work.alert.webhook_id, work.alert.rule.id, work.alert.article.id, work.endpoint.subscriber,
                  attempts, reason, error or reason)


def _alerts_in(work: Work) -> int:
    """Alerts a delivery counts for in the per-alert metric: each of a batch's (a digest's alerts
    were counted as held when they were held back)."""
    return len(work.batch.alerts) if work.batch is not None else 1
