"""Intake of one fetched record: decode it, and queue it on its lane or dead-letter it.

A ``matches`` record is an ``Alert``; a retry record a ``RetryEnvelope`` (an alert, a digest or a batch,
its next attempt number, the attempts so far and when it is due). A record that is empty, not
JSON, fails the schema or names an unknown subscriber is ``Unusable``: it goes to
``matches.rejected`` with the reason and is settled at once. A new alert repeating a story its
(subscriber, rule) had within the de-duplication window (``claims``) is settled without a POST.
A retry not due yet is left to the consumer, which rewinds and pauses its partition until then.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Awaitable, Callable, Mapping

from pydantic import ValidationError

from newsalert.adapters.broker import Record
from newsalert.schemas import Alert, Batch, DeliveryAttempt, Digest, RejectedRecord, RetryEnvelope, error_messages
from newsalert.services.notifier.claims import StoryClaims
from newsalert.domain.delivery.endpoints import Endpoint
from newsalert.services.notifier.lanes import Lanes, Work
from newsalert.services.notifier.metrics import NotifierMetrics, NotifierStats
from newsalert.services.notifier.offsets import OffsetTracker
from newsalert.services.notifier.produce import DurablePublisher

log = logging.getLogger(__name__)


class Unusable(Exception):
    """A record that cannot be delivered: the reason goes into its dead letter."""

    def __init__(self, reason: str, error_type: str, record_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error_type = error_type
        self.record_id = record_id


@dataclass
class Decoded:
    """What a record asks to deliver: ``item`` to ``endpoint`` as attempt ``attempt``."""

    item: Alert | Digest | Batch
    endpoint: Endpoint
    attempt: int = 1
    history: list[DeliveryAttempt] = field(default_factory=list)
    due_at: datetime | None = None  # a retry's due time; None for a new alert


def decode_alert(value: bytes | None, endpoints: Mapping[str, Endpoint]) -> Decoded:
    """The alert of a ``matches`` record and its endpoint, or ``Unusable`` with the reason."""
    alert = _validated(Alert, value)
    return Decoded(alert, endpoint_of(alert, endpoints))


def decode_retry(value: bytes | None, endpoints: Mapping[str, Endpoint]) -> Decoded:
    """What a retry record asks to deliver again, or ``Unusable`` with the reason."""
    envelope = _validated(RetryEnvelope, value)
    item = envelope.alert or envelope.digest or envelope.batch
    return Decoded(item, endpoint_of(item, endpoints), envelope.attempt, list(envelope.attempts), envelope.due_at)


def _validated(model, value: bytes | None):
    """``value`` parsed as ``model``, or ``Unusable`` saying why not."""
    if not value:
        raise Unusable("empty record (no value)", "EmptyRecord")
    try:
        return model.model_validate_json(value)
    except ValidationError as exc:
        raise Unusable("; ".join(error_messages(exc)), "ValidationError") from None


async def decode_record(
    value: bytes | None, is_retry: bool, endpoints: Mapping[str, Endpoint], catch_up: Callable[[], Awaitable[None]] | None = None
) -> Decoded:
    """Decode a ``matches`` or retry record; a subscriber not known yet gets one ``catch_up`` with
    the rules feed first (it may have been created a moment ago: ``newsalert.services.notifier.feed``)."""
    decode = decode_retry if is_retry else decode_alert
    try:
        return decode(value, endpoints)
    except Unusable as exc:
        if exc.error_type != "UnknownSubscriber" or catch_up is None:
            raise
    await catch_up()
    return decode(value, endpoints)


def endpoint_of(item: Alert | Digest | Batch, endpoints: Mapping[str, Endpoint]) -> Endpoint:
    """The endpoint of the item's subscriber, or ``Unusable`` when nobody knows it."""
    endpoint = endpoints.get(item.subscriber)
    if endpoint is None:
        raise Unusable(f"subscriber {item.subscriber!r} is not in the rule file nor an active API subscription",
                       "UnknownSubscriber", item.webhook_id)
    return endpoint


def rejection(record, problem: Unusable, topic: str) -> Record:
    """The ``matches.rejected`` record (on ``topic``) of a fetched ``record`` that is unusable."""
    dead = RejectedRecord.of(
        "notifier", problem.reason, record.value, record_id=problem.record_id,
        topic=record.topic, partition=record.partition, offset=record.offset, key=record.key,
    ).model_copy(update={"error_type": problem.error_type})
    return Record(topic, dead.to_json(), record.key)


class RecordIntake:
    """Takes fetched records onto the lanes; see the module docstring."""

    def __init__(
        self,
        endpoints: Mapping[str, Endpoint],
        tracker: OffsetTracker,
        lanes: Lanes,
        claims: StoryClaims | None,
        producer: DurablePublisher,
        rejected_topic: str,
        stats: NotifierStats,
        metrics: NotifierMetrics,
    ) -> None:
        self._endpoints = endpoints  # not copied: a SubscriberDirectory follows the rules feed
        self._catch_up = getattr(endpoints, "catch_up", None)
        self._tracker, self._lanes, self._claims, self._producer = tracker, lanes, claims, producer
        self._rejected_topic = rejected_topic
        self._stats, self._metrics = stats, metrics

    async def take(self, partition, record, is_retry: bool) -> float:
        """Register, decode and queue (or reject) one record of ``partition``; for a retry not
        due yet, nothing is registered and the seconds until it is due are returned (else 0)."""
        try:
            decoded = await decode_record(record.value, is_retry, self._endpoints, self._catch_up)
        except Unusable as exc:
            self._stats.fetched += 1
            await self._reject(self._tracker.add(partition, record.offset), record, exc)
            return 0.0
        if decoded.due_at is not None:
            wait = (decoded.due_at - datetime.now(timezone.utc)).total_seconds()
            if wait > 0:
                return wait
        self._stats.fetched += 1
        ticket = self._tracker.add(partition, record.offset)
        item = decoded.item
        if not is_retry and self._claims is not None and not self._claims.admit(
            partition.partition, record.offset, record.timestamp, item, record.headers
        ):
            self._stats.duplicates += 1
            self._metrics.count_delivery("duplicate")
            self._tracker.settle(ticket)  # its claim holder's claim is durable before any commit
            return 0.0
        digest = item if isinstance(item, Digest) else None
        batch = item if isinstance(item, Batch) else None
        alert = item if isinstance(item, Alert) else None
        work = Work(ticket, alert, decoded.endpoint, decoded.attempt, decoded.history, digest=digest, batch=batch,
                    size=len(record.value))
        if is_retry:  # a retried alert was let through the rate limit at its first attempt
            self._lanes.queue(work)
        elif not self._lanes.route(work):
            self._stats.held += 1
            self._metrics.count_delivery("held")
        return 0.0

    async def _reject(self, ticket, record, problem: Unusable) -> None:
        """Dead-letter ``record`` to ``matches.rejected`` with the reason, then settle it."""
        if not await self._producer.publish([rejection(record, problem, self._rejected_topic)]):
            return  # stopping with the broker away: left unsettled, redone after restart
        self._stats.rejected += 1
        self._metrics.count_delivery("rejected")
        log.warning("rejected %s[%d]@%d to %s: %s", record.topic, record.partition, record.offset, self._rejected_topic, problem.reason)
        self._tracker.settle(ticket)
