"""The notifier's consumer loop: fetch alerts, deliver them per subscriber, commit what is settled.

Flow of one record from ``matches``:

1. fetched by the loop and registered with the ``OffsetTracker`` (a ticket);
2. decoded as ``schemas.Alert`` and its subscriber looked up in the rule file; a record that is
   not JSON, fails the schema or names an unknown subscriber is written to ``matches.rejected``
   (``RejectedRecord`` with the reason) and settled at once;
3. otherwise queued on its subscriber's *lane*: a lane delivers its alerts one after another, in
   fetch order (the order of the subscriber's partition), while lanes of different subscribers
   run concurrently, bounded by the sender's in-flight limit. A slow or failing subscriber holds
   up only its own lane;
4. settled when delivered or given up (logged), which may advance the partition's commit point.

Commits run every ``notifier_commit_interval`` seconds and on revocation and shutdown; they
never pass an unsettled record (at least once). On shutdown each lane finishes the alert in hand
(an alert waiting for a retry is left), the settled prefix is committed, and what was fetched but
not delivered is redelivered by the next owner of the partition. Fetching pauses while more than
``notifier_max_pending`` records are unsettled, so memory stays bounded behind a slow subscriber.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Mapping

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from newsalert.adapters.broker import Publisher
from newsalert.config import Settings
from newsalert.errors import TransientError
from schemas import Alert, RejectedRecord, error_messages
from services.notifier.endpoints import Endpoint
from services.notifier.offsets import OffsetTracker, Ticket
from services.notifier.sender import DeliveryReport, WebhookSender

log = logging.getLogger(__name__)

_FETCH_TIMEOUT_MS = 200
_MAX_FETCH = 500  # records per fetch at most
_DEAD_LETTER_BACKOFF_S = (0.5, 1, 2, 5)


@dataclass
class _Work:
    ticket: Ticket
    alert: Alert
    endpoint: Endpoint


@dataclass
class _Lane:
    """One subscriber's queue and the task draining it (absent while the queue is empty)."""

    queue: deque[_Work] = field(default_factory=deque)
    task: asyncio.Task | None = None


@dataclass
class NotifierStats:
    """Counters shown on the health endpoints and in the shutdown log line."""

    fetched: int = 0
    delivered: int = 0
    given_up: int = 0
    rejected: int = 0
    commits: int = 0


class Notifier:
    """Consumes ``matches`` and delivers each alert; see the module docstring.

    ``on_report`` is called with every finished delivery (delivered or given up) before it is
    settled: the seam where the delivery issue records attempts and dead-letters alerts.
    """

    def __init__(
        self,
        settings: Settings,
        endpoints: Mapping[str, Endpoint],
        sender: WebhookSender,
        publisher: Publisher,
        on_report: Callable[[DeliveryReport], Awaitable[None]] | None = None,
    ) -> None:
        self._settings = settings
        self._endpoints = dict(endpoints)
        self._sender = sender
        self._publisher = publisher
        self._on_report = on_report
        self._topic = settings.topic("matches")
        self._rejected_topic = settings.topic("matches.rejected")
        self._tracker = OffsetTracker()
        self._lanes: dict[str, _Lane] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._stopping = asyncio.Event()
        self._paused = False
        self._failure: BaseException | None = None
        self.stats = NotifierStats()
        self.running = False

    # -- lifecycle -------------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the loop to finish: no more fetching, in-flight deliveries end, then commit."""
        self._stopping.set()

    async def run(self) -> None:
        """Consume until ``stop()``; then drain lanes (bounded by the grace), commit, close."""
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self._settings.kafka_bootstrap,
            group_id=self._settings.group("notifier"),
            client_id="newsalert-notifier",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )
        self._consumer.subscribe([self._topic], listener=_Revocations(self))
        try:
            await self._consumer.start()
        except KafkaError as exc:
            await self._consumer.stop()
            raise TransientError(f"the notifier cannot join Kafka at {self._settings.kafka_bootstrap}: {exc}") from exc
        self.running = True
        log.info("notifier consuming %s as group %s", self._topic, self._settings.group("notifier"))
        try:
            await self._loop()
        finally:
            self.running = False
            await self._drain(self._settings.shutdown_grace)
            await self._commit()
            await self._consumer.stop()
            log.info("notifier stopped: %s", self.stats)
        if self._failure is not None:
            raise RuntimeError("a delivery lane failed unexpectedly") from self._failure

    async def _loop(self) -> None:
        next_commit = asyncio.get_running_loop().time() + self._settings.notifier_commit_interval
        while not self._stopping.is_set():
            room = self._apply_backpressure()
            batches = await self._consumer.getmany(timeout_ms=_FETCH_TIMEOUT_MS, max_records=room)
            for tp, records in batches.items():
                for record in records:
                    await self._accept(tp, record)
            now = asyncio.get_running_loop().time()
            if now >= next_commit:
                await self._commit()
                next_commit = now + self._settings.notifier_commit_interval

    def _apply_backpressure(self) -> int:
        """Pause fetching at ``notifier_max_pending`` unsettled records, resume below half;
        return how many records the next fetch may take (so the bound holds exactly).

        Paused partitions keep the consumer polling, so it stays in the group meanwhile.
        """
        pending = self._tracker.pending()
        limit = self._settings.notifier_max_pending
        assigned = self._consumer.assignment()
        if pending >= limit:
            # Re-applied every round so partitions assigned meanwhile are paused too.
            self._consumer.pause(*assigned)
            self._paused = True
        elif self._paused and pending < limit // 2 + 1:
            self._consumer.resume(*assigned)
            self._paused = False
        return max(1, min(_MAX_FETCH, limit - pending))

    # -- one record ------------------------------------------------------------------------------
    async def _accept(self, tp: TopicPartition, record) -> None:
        """Register, decode and queue (or dead-letter) one fetched record."""
        self.stats.fetched += 1
        ticket = self._tracker.add(tp, record.offset)
        try:
            alert, endpoint = self._decode(record.value)
        except _Unusable as exc:
            await self._reject(ticket, record, exc)
            return
        lane = self._lanes.setdefault(endpoint.subscriber, _Lane())
        lane.queue.append(_Work(ticket, alert, endpoint))
        if lane.task is None:
            lane.task = asyncio.create_task(self._drain_lane(endpoint.subscriber, lane), name=f"lane-{endpoint.subscriber}")
            lane.task.add_done_callback(self._lane_done)

    def _lane_done(self, task: asyncio.Task) -> None:
        """A lane that raised is a bug: stop the notifier loudly rather than stall its partition."""
        if task.cancelled() or task.exception() is None:
            return
        log.error("delivery lane %s failed", task.get_name(), exc_info=task.exception())
        self._failure = task.exception()
        self._stopping.set()

    def _decode(self, value: bytes | None) -> tuple[Alert, Endpoint]:
        """The alert and its endpoint, or ``_Unusable`` with a reason naming the field."""
        if not value:
            raise _Unusable("empty record (no value)", "EmptyRecord")
        try:
            alert = Alert.model_validate_json(value)
        except ValidationError as exc:
            raise _Unusable("; ".join(error_messages(exc)), "ValidationError") from None
        endpoint = self._endpoints.get(alert.subscriber)
        if endpoint is None:
            raise _Unusable(f"subscriber {alert.subscriber!r} is not in the rule file", "UnknownSubscriber", alert.webhook_id)
        return alert, endpoint

    async def _reject(self, ticket: Ticket, record, problem: _Unusable) -> None:
        """Dead-letter ``record`` to ``matches.rejected``, then settle it.

        The broker must have the dead letter before the record is settled; while it cannot take
        it the loop retries (the broker being away stalls everything anyway), unless stopping.
        """
        dead = RejectedRecord.of(
            "notifier", problem.reason, record.value, record_id=problem.record_id,
            topic=record.topic, partition=record.partition, offset=record.offset, key=record.key,
        ).model_copy(update={"error_type": problem.error_type})
        for attempt, backoff in enumerate((*_DEAD_LETTER_BACKOFF_S, None)):
            try:
                await self._publisher.publish(self._rejected_topic, dead.to_json(), key=record.key)
                break
            except TransientError as exc:
                if backoff is None or self._stopping.is_set():
                    raise
                log.warning("dead letter of %s[%d]@%d not accepted (%s); retrying", record.topic, record.partition, record.offset, exc)
                await asyncio.sleep(backoff)
        self.stats.rejected += 1
        log.warning("rejected %s[%d]@%d to %s: %s", record.topic, record.partition, record.offset, self._rejected_topic, problem.reason)
        self._tracker.settle(ticket)

    # -- lanes -----------------------------------------------------------------------------------
    async def _drain_lane(self, subscriber: str, lane: _Lane) -> None:
        """Deliver the lane's alerts in order until its queue is empty, then end."""
        try:
            # On shutdown a lane finishes the alert in hand and leaves the rest for after restart.
            while lane.queue and not self._stopping.is_set():
                work = lane.queue[0]
                if self._tracker.is_live(work.ticket):
                    report = await self._sender.deliver(work.alert, work.endpoint, self._stopping)
                    if report.final is None:
                        return  # interrupted by shutdown: leave it unsettled, redone after restart
                    await self._finish(work, report)
                lane.queue.popleft()
        finally:
            lane.task = None
            if not lane.queue:
                self._lanes.pop(subscriber, None)

    async def _finish(self, work: _Work, report: DeliveryReport) -> None:
        """Count and log a finished delivery, hand it to ``on_report``, settle its record."""
        if report.delivered:
            self.stats.delivered += 1
            log.debug("delivered %s to %s in %d attempt(s)", work.alert.webhook_id, work.endpoint.subscriber, len(report.attempts))
        else:
            self.stats.given_up += 1
            last = report.attempts[-1]
            log.error(
                "gave up delivering %s (rule %s, article %s) to %s after %d attempt(s): %s",
                work.alert.webhook_id, work.alert.rule.id, work.alert.article.id,
                work.endpoint.subscriber, len(report.attempts), last.error,
            )
        if self._on_report is not None:
            await self._on_report(report)
        self._tracker.settle(work.ticket)

    async def _drain(self, grace: float, partitions: set | None = None) -> None:
        """Wait up to ``grace`` seconds for the lanes (of ``partitions``, or all) to settle."""
        deadline = asyncio.get_running_loop().time() + grace
        while asyncio.get_running_loop().time() < deadline:
            if partitions is None:
                busy = any(lane.task is not None for lane in self._lanes.values())
            else:
                busy = any(self._tracker.pending(tp) for tp in partitions)
            if not busy:
                return
            await asyncio.sleep(0.05)
        if partitions is None:
            tasks = [lane.task for lane in self._lanes.values() if lane.task is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            log.warning("stopped with %d alert(s) unsettled: they are delivered again after restart", self._tracker.pending())

    # -- commits ---------------------------------------------------------------------------------
    async def _commit(self, partitions: set | None = None) -> None:
        """Commit every moved commit point (of ``partitions``, or all); failures only logged.

        A failed commit loses nothing: the records are redelivered (at least once).
        """
        offsets = self._tracker.to_commit(partitions)
        if not offsets or self._consumer is None:
            return
        try:
            await self._consumer.commit(offsets)
        except KafkaError as exc:
            log.warning("offset commit failed (%s); the alerts after the last commit may be redelivered", exc)
            return
        self._tracker.mark_committed(offsets)
        self.stats.commits += 1

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        """Before giving partitions away: let their in-flight alerts settle briefly, commit, forget."""
        if not revoked:
            return
        if not self._stopping.is_set():  # when stopping, the lanes are already done
            await self._drain(min(self._settings.shutdown_grace, 10.0), set(revoked))
        await self._commit(set(revoked))
        self._tracker.drop(revoked)
        log.info("partitions revoked: %s", sorted(f"{tp.topic}[{tp.partition}]" for tp in revoked))


class _Unusable(Exception):
    """A record that cannot be delivered: the reason goes into its dead letter."""

    def __init__(self, reason: str, error_type: str, record_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error_type = error_type
        self.record_id = record_id


class _Revocations(ConsumerRebalanceListener):
    """Commits what is settled before partitions move to another notifier."""

    def __init__(self, notifier: Notifier) -> None:
        self._notifier = notifier

    async def on_partitions_revoked(self, revoked) -> None:
        await self._notifier.on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned) -> None:
        log.info("partitions assigned: %s", sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned))
