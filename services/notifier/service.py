"""The notifier's consumer loop: fetch alerts, deliver them per subscriber, retry through Kafka.

Topics consumed, in one consumer group: ``matches`` (new alerts) and the retry topics
``deliveries.retry.<tier>s`` (alerts waiting for their next attempt). Flow of one record:

1. fetched and registered with the ``OffsetTracker`` (a ticket). A retry record that is not due
   yet is not registered: its partition is rewound to it (``seek``) and paused until its due time,
   so it is fetched again then. Nothing sleeps in the loop: other partitions keep flowing;
2. decoded (``Alert`` or ``RetryEnvelope``) and its subscriber looked up; a record that is not
   JSON, fails the schema or names an unknown subscriber goes to ``matches.rejected`` with the
   reason and is settled at once;
3. queued on its subscriber's *lane*: at most ``notifier_max_in_flight_per_subscriber`` attempts
   of one subscriber run at once (1 by default: partition order is kept), lanes of different
   subscribers run concurrently, bounded by the sender's global in-flight limit;
4. one attempt is made (unless the subscriber is disabled, or the endpoint's circuit breaker holds
   it back: then a ``circuit_open`` attempt is recorded without a request). The domain's
   ``next_step`` decides: done, retry after a delay, or dead. The records that follow from it are
   produced together, acknowledged by every in-sync replica (acks=all): the ``DeliveryAttempt``
   (``deliveries.attempts``), and a ``RetryEnvelope`` (to the retry topic of the delay's tier) or
   a ``DeadDelivery`` (``deliveries.dead``) and, for 410, a ``SubscriberState`` disabling the
   subscriber. Only then is the record settled, so its offset is committed only once its retry
   or dead letter is durable: a crash before that redoes the attempt, never skips it. A
   *delivered* alert does not hold its lane while its attempt record is acknowledged: the record
   is handed to the producer, the lane takes its next alert, and the alert settles when the
   acknowledgement comes (``_settle_when_acknowledged``). Retries, dead letters and disabling are
   still waited for in the lane, so what follows them on the lane sees their effect.

Why tiered retry topics, paused until due: a retry topic is consumed in order, and a partition is
paused at its first record that is not due. Were all retries in one topic, a record due in 10 h
would hold back one due in 5 s behind it. With one topic per delay of the schedule (plus the
throttle floor), the records of a topic are produced in roughly due order: they differ only by
jitter (±20 %) and ``Retry-After`` (up to 2x), so a retry is late by at most about its own delay
again, never by a longer tier's. Commits stay a plain settled prefix, so a restart resumes exactly
at the first unsettled retry (an in-memory timer of not-yet-due records would have to hold back
commits past records already re-produced, and a crash would fork their retry chains).
A retry record is taken as soon as its due time passes, whatever tier it is on, so changing the
schedule is safe: the notifier consumes every existing ``deliveries.retry.*`` topic.

Rate limits and digests (``max_per_minute``, ``digest`` of a subscriber; policy in
``newsalert.domain.delivery.ratelimit``): a new alert over its subscriber's limit is *held*
instead of queued; when the digest window ends (or the digest is full) one ``Digest`` delivery
carrying every held alert goes on the lane like any alert, with its own stable ``webhook-id``;
it is retried through the retry topics inside a ``RetryEnvelope`` and, if given up, each alert
it lists is dead-lettered on its own (replayable alone).
Durability, and why no digest topic: a held alert's record simply stays unsettled until the
digest carrying it is settled, so its offset is not committed before then and a crash re-fetches
it (at least once; the re-built digest gets a new window and id, receivers may see an alert a
second time, as for any redelivery). A digest topic would add a second durable copy and a
restart protocol (which held records belong to which open window) for no gain in what is
guaranteed. The price is that a held alert holds back the commit point of its partition for up to
one window, so a restart redelivers what came after it on that partition; and held alerts count
against ``notifier_max_pending``, so the fullest digests are sent early once held alerts exceed
half of it (fetching never stalls for everyone behind one subscriber's window). On revocation,
held alerts are let go unsettled: the partition's next owner fetches and holds them again.
Rate counters are in memory, per notifier: one subscriber's alerts share a partition of
``matches``, so one notifier counts them all (a restart starts a fresh minute).

De-duplication (``NEWSALERT_DEDUP_WINDOW``; ``newsalert.services.notifier.claims``): a new alert repeating
a story its (subscriber, rule) had within the window is settled as a duplicate without a POST.
For the same reason as the rate limits it lives here: one notifier sees every alert of a
subscriber. A newly assigned ``matches`` partition stays paused until its claims are read back,
and a commit first waits for the claims handed to the producer.

Commits run every ``notifier_commit_interval`` seconds and on revocation and shutdown; they
never pass an unsettled record (at least once). Fetching pauses while more than
``notifier_max_pending`` records are unsettled, so memory stays bounded behind a slow subscriber;
the circuit breaker keeps a dead endpoint from being that slow subscriber for long.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Mapping

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from newsalert.adapters import kafka_clients
from newsalert.adapters.broker import Publisher, Record
from newsalert.adapters.topics import RETRY_TOPIC_PREFIX, retry_topic
from newsalert.config import Settings
from newsalert.domain.delivery import outcome as oc
from newsalert.domain.delivery.breaker import CLOSED, CircuitBreaker
from newsalert.domain.delivery.ratelimit import SEND, RateLimiter
from newsalert.domain.delivery.retry import DEAD, DONE, RetryPolicy, next_step, tier_for
from newsalert.errors import TransientError
from newsalert.domain.alerts import new_digest
from newsalert.schemas import Alert, DeadDelivery, DeliveryAttempt, Digest, RejectedRecord, RetryEnvelope, SubscriberState, error_messages
from newsalert.schemas.delivery import ERROR_MAX
from newsalert.schemas._common import truncate
from newsalert.services.notifier.claims import StoryClaims, claims_partitions
from newsalert.domain.delivery.endpoints import Endpoint
from newsalert.services.notifier.metrics import NotifierMetrics
from newsalert.services.notifier.offsets import OffsetTracker, Ticket
from newsalert.services.notifier.sender import WebhookSender, attempt_record
from newsalert.services.notifier.states import SubscriberStates

log = logging.getLogger(__name__)

_FETCH_TIMEOUT_MS = 200
_MAX_FETCH = 500  # records per fetch at most
_PUBLISH_BACKOFF_S = (0.5, 1, 2, 5, 10)


@dataclass
class _Work:
    """One delivery to make: an alert, or a digest of held alerts (``alert`` is then None)."""

    ticket: Ticket | None  # the record it came from; None for a digest just closed
    alert: Alert | None
    endpoint: Endpoint
    attempt: int = 1
    history: list[DeliveryAttempt] = field(default_factory=list)
    digest: Digest | None = None
    held: list[Ticket] = field(default_factory=list)  # the digest's held alerts, settled with it

    @property
    def item(self) -> Alert | Digest:
        """What is POSTed: the digest or the alert."""
        return self.digest if self.digest is not None else self.alert

    def tickets(self) -> list[Ticket]:
        """Every record settled when this delivery is."""
        return ([self.ticket] if self.ticket is not None else []) + self.held


@dataclass(frozen=True)
class _Held:
    """An alert held back for its subscriber's digest; its record stays unsettled until then."""

    ticket: Ticket
    alert: Alert
    endpoint: Endpoint


@dataclass
class _Lane:
    """One subscriber's queue and how many of its attempts are running."""

    queue: deque[_Work] = field(default_factory=deque)
    running: int = 0


@dataclass
class NotifierStats:
    """Counters shown on the health endpoints and in the shutdown log line."""

    fetched: int = 0
    delivered: int = 0
    retried: int = 0
    given_up: int = 0
    rejected: int = 0
    commits: int = 0
    held: int = 0  # alerts held back by a rate limit for a digest
    duplicates: int = 0  # alerts not sent: their story reached the (subscriber, rule) already
    digests: int = 0  # digests delivered


class Notifier:
    """Consumes ``matches`` and the retry topics and delivers each alert; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        endpoints: Mapping[str, Endpoint],
        sender: WebhookSender,
        publisher: Publisher,
        states: SubscriberStates,
        metrics: NotifierMetrics | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._settings = settings
        # Not copied: a SubscriberDirectory changes as the rules feed brings API subscribers.
        self._endpoints = endpoints
        self._catch_up = getattr(endpoints, "catch_up", None)
        self._sender = sender
        self._publisher = publisher
        self._states = states
        self.metrics = metrics or NotifierMetrics()
        self._rng = rng or random.Random()
        self._policy = RetryPolicy.from_text(settings.retry_schedule, settings.retry_jitter, settings.retry_throttle_floor)
        self._tiers = self._policy.tiers()
        self._matches = settings.topic("matches")
        self._retry_prefix = settings.topic(RETRY_TOPIC_PREFIX)
        self._rejected_topic = settings.topic("matches.rejected")
        self._tracker = OffsetTracker()
        self._lanes: dict[str, _Lane] = {}
        self._tasks: set[asyncio.Task] = set()
        self._breakers: dict[str, CircuitBreaker] = {}
        self._waiting: dict[TopicPartition, float] = {}  # retry partition -> loop time its head is due
        self._over_limit = False
        self._limiter: RateLimiter[_Held] = RateLimiter()
        self._active: Counter = Counter()
        self._running: dict[asyncio.Task, _Work] = {}  # partition -> queued or running deliveries of its records
        self._consumer: AIOKafkaConsumer | None = None
        self._claims = StoryClaims(settings, publisher) if settings.dedup_window > 0 else None
        self._stopping = asyncio.Event()
        self._failure: BaseException | None = None
        self.stats = NotifierStats()
        self.running = False

    # -- lifecycle -------------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the loop to finish: no more fetching, in-flight attempts end, then commit."""
        self._stopping.set()

    async def run(self) -> None:
        """Consume until ``stop()``; then drain in-flight attempts (bounded by the grace), commit, close."""
        self._consumer = kafka_clients.consumer(
            self._settings,
            group_id=self._settings.group("notifier"),
            client_id="newsalert-notifier",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )
        try:
            await self._consumer.start()
            topics = await self._topics()
        except KafkaError as exc:
            await self._consumer.stop()
            raise TransientError(f"the notifier cannot join Kafka at {self._settings.kafka_bootstrap}: {exc}") from exc
        self._consumer.subscribe(topics, listener=_Revocations(self))
        self.running = True
        log.info("notifier consuming %s as group %s", ", ".join(topics), self._settings.group("notifier"))
        try:
            await self._loop()
        finally:
            self.running = False
            await self._drain(self._settings.shutdown_grace)
            await self._commit()
            if self._claims is not None:
                await self._claims.close()
            await self._consumer.stop()
            log.info("notifier stopped: %s", self.stats)
        if self._failure is not None:
            raise RuntimeError("a delivery task failed unexpectedly") from self._failure

    async def _topics(self) -> list[str]:
        """``matches``, the retry topics of the schedule, and any other retry topic that exists
        (left by an earlier schedule: its records must still be delivered)."""
        wanted = {self._matches, *(self._settings.topic(retry_topic(t)) for t in self._tiers)}
        existing = await self._consumer.topics()
        wanted |= {t for t in existing if t.startswith(self._retry_prefix)}
        return sorted(wanted)

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_commit = loop.time() + self._settings.notifier_commit_interval
        while not self._stopping.is_set():
            room = self._flow_control()
            batches = await self._consumer.getmany(timeout_ms=_FETCH_TIMEOUT_MS, max_records=room)
            for tp, records in batches.items():
                for record in records:
                    if not await self._accept(tp, record):
                        break  # the partition was rewound to a retry not yet due
            if self._claims is not None:
                await self._claims.send_pending()  # one claims record per partition of this fetch
            self._close_digests()
            now = loop.time()
            if now >= next_commit:
                await self._commit()
                await self._update_lag()
                if self._claims is not None:
                    self._claims.book.expire(time.time())
                next_commit = now + self._settings.notifier_commit_interval

    def _flow_control(self) -> int:
        """Pause what must not be fetched now, resume the rest; return the next fetch's size.

        Paused: every partition while ``notifier_max_pending`` records are unsettled (until below
        half), and a retry partition until its head record is due. Paused partitions keep the
        consumer polling, so it stays in the group meanwhile.
        """
        now = asyncio.get_running_loop().time()
        self._waiting = {tp: due for tp, due in self._waiting.items() if due > now}
        pending = self._tracker.pending()
        limit = self._settings.notifier_max_pending
        if pending >= limit:
            self._over_limit = True
        elif self._over_limit and pending < limit // 2 + 1:
            self._over_limit = False
        assigned = self._consumer.assignment()
        # Re-applied every round so that partitions assigned meanwhile follow the rule too.
        held = set(assigned) if self._over_limit else {tp for tp in self._waiting if tp in assigned}
        held |= {tp for tp in assigned if self._claims_pending(tp)}
        if held:
            self._consumer.pause(*held)
        free = set(assigned) - held
        if free & self._consumer.paused():
            self._consumer.resume(*free)
        return max(1, min(_MAX_FETCH, limit - pending))

    # -- one record ------------------------------------------------------------------------------
    async def _accept(self, tp: TopicPartition, record) -> bool:
        """Register, decode and queue (or dead-letter) one record; False when the partition was
        rewound because this retry is not due yet (the rest of its batch is then dropped)."""
        is_retry = tp.topic != self._matches
        if self._claims_pending(tp):  # fetched just before the pause took effect: fetched again later
            self._consumer.seek(tp, record.offset)
            return False
        try:
            work_parts = await self._decode_record(record.value, is_retry)
        except _Unusable as exc:
            self.stats.fetched += 1
            await self._reject(self._tracker.add(tp, record.offset), record, exc)
            return True
        item, endpoint, attempt, history = work_parts[:4]
        if is_retry:
            wait = (work_parts[4] - datetime.now(timezone.utc)).total_seconds()
            if wait > 0:
                self._consumer.seek(tp, record.offset)
                self._waiting[tp] = asyncio.get_running_loop().time() + wait
                return False
        self.stats.fetched += 1
        ticket = self._tracker.add(tp, record.offset)
        if not is_retry and self._claims is not None and not self._claims.admit(
            tp.partition, record.offset, record.timestamp, item, record.headers
        ):
            self.stats.duplicates += 1
            self.metrics.count_delivery("duplicate")
            self._tracker.settle(ticket)  # its claim holder's claim is durable before any commit
            return True
        if isinstance(item, Digest):
            self._queue(_Work(ticket, None, endpoint, attempt, history, digest=item))
        elif is_retry:  # a retried alert was let through the rate limit at its first attempt
            self._queue(_Work(ticket, item, endpoint, attempt, history))
        elif self._limiter.route(endpoint.subscriber, endpoint.limit, _Held(ticket, item, endpoint), time.time()) == SEND:
            self._queue(_Work(ticket, item, endpoint))
        else:
            self.stats.held += 1
            self.metrics.count_delivery("held")
        return True

    def _claims_pending(self, tp: TopicPartition) -> bool:
        """True while a ``matches`` partition waits for its claims to be read back."""
        return self._claims is not None and tp.topic == self._matches and self._claims.recovering(tp.partition)

    def _queue(self, work: _Work) -> None:
        """Put ``work`` on its subscriber's lane and start what the lane may start."""
        self._hold(work)
        lane = self._lanes.setdefault(work.endpoint.subscriber, _Lane())
        lane.queue.append(work)
        self._pump(work.endpoint.subscriber, lane)

    def _close_digests(self) -> None:
        """Queue every digest that is due (window over, full, or too many alerts held overall).

        Held alerts count against ``notifier_max_pending``; half of it is the most they may take,
        so a burst for one subscriber never pauses fetching for everyone until its window ends.
        """
        for closed in self._limiter.due(time.time(), held_cap=max(1, self._settings.notifier_max_pending // 2)):
            digest = new_digest(closed.subscriber, closed.start, closed.end, [h.alert for h in closed.items])
            endpoint = closed.items[-1].endpoint
            log.info("digest %s for %s: %d alert(s) held since %s", digest.webhook_id, closed.subscriber,
                     len(closed.items), digest.window_start.isoformat())
            self._queue(_Work(None, None, endpoint, digest=digest, held=[h.ticket for h in closed.items]))

    async def _decode_record(self, value: bytes | None, is_retry: bool) -> tuple:
        """The work parts of a record; a subscriber not known yet gets one catch-up with the rules
        feed first (it may have been created a moment ago: see ``newsalert.services.notifier.feed``)."""
        decode = self._decode_retry if is_retry else (lambda v: (*self._decode(v), 1, []))
        try:
            return decode(value)
        except _Unusable as exc:
            if exc.error_type != "UnknownSubscriber" or self._catch_up is None:
                raise
        await self._catch_up()
        return decode(value)

    def _decode(self, value: bytes | None) -> tuple[Alert, Endpoint]:
        """The alert of a ``matches`` record and its endpoint, or ``_Unusable`` with the reason."""
        if not value:
            raise _Unusable("empty record (no value)", "EmptyRecord")
        try:
            alert = Alert.model_validate_json(value)
        except ValidationError as exc:
            raise _Unusable("; ".join(error_messages(exc)), "ValidationError") from None
        return alert, self._endpoint_of(alert)

    def _decode_retry(self, value: bytes | None) -> tuple:
        """(alert or digest, endpoint, attempt, history, due_at) of a retry record, or ``_Unusable``."""
        if not value:
            raise _Unusable("empty record (no value)", "EmptyRecord")
        try:
            envelope = RetryEnvelope.model_validate_json(value)
        except ValidationError as exc:
            raise _Unusable("; ".join(error_messages(exc)), "ValidationError") from None
        item = envelope.alert if envelope.alert is not None else envelope.digest
        endpoint = self._endpoint_of(item)
        return item, endpoint, envelope.attempt, list(envelope.attempts), envelope.due_at

    def _endpoint_of(self, alert: Alert | Digest) -> Endpoint:
        endpoint = self._endpoints.get(alert.subscriber)
        if endpoint is None:
            raise _Unusable(f"subscriber {alert.subscriber!r} is not in the rule file nor an active API subscription",
                            "UnknownSubscriber", alert.webhook_id)
        return endpoint

    async def _reject(self, ticket: Ticket, record, problem: _Unusable) -> None:
        """Dead-letter ``record`` to ``matches.rejected`` with the reason, then settle it."""
        dead = RejectedRecord.of(
            "notifier", problem.reason, record.value, record_id=problem.record_id,
            topic=record.topic, partition=record.partition, offset=record.offset, key=record.key,
        ).model_copy(update={"error_type": problem.error_type})
        if not await self._publish([Record(self._rejected_topic, dead.to_json(), record.key)]):
            return  # stopping with the broker away: left unsettled, redone after restart
        self.stats.rejected += 1
        self.metrics.count_delivery("rejected")
        log.warning("rejected %s[%d]@%d to %s: %s", record.topic, record.partition, record.offset, self._rejected_topic, problem.reason)
        self._tracker.settle(ticket)

    # -- lanes -----------------------------------------------------------------------------------
    def _pump(self, subscriber: str, lane: _Lane) -> None:
        """Start the lane's next attempts, up to the per-subscriber in-flight bound."""
        bound = self._settings.notifier_max_in_flight_per_subscriber
        while lane.queue and lane.running < bound and not self._stopping.is_set():
            work = lane.queue.popleft()
            lane.running += 1
            task = asyncio.create_task(self._handle(work), name=f"deliver-{subscriber}")
            self._tasks.add(task)
            self._running[task] = work
            task.add_done_callback(partial(self._work_done, subscriber, lane))

    def _work_done(self, subscriber: str, lane: _Lane, task: asyncio.Task) -> None:
        """An attempt ended: start the next; a task that raised is a bug and stops the notifier."""
        self._tasks.discard(task)
        lane.running -= 1
        self._release(self._running.pop(task))
        if not task.cancelled() and task.exception() is not None:
            log.error("delivery to %s failed unexpectedly", subscriber, exc_info=task.exception())
            self._failure = task.exception()
            self._stopping.set()
        self._pump(subscriber, lane)
        if not lane.queue and lane.running == 0 and self._lanes.get(subscriber) is lane:
            del self._lanes[subscriber]

    def _hold(self, work: _Work) -> None:
        """``work`` is in progress on its partitions (a revocation waits for it); ``_release`` ends it."""
        for ticket in work.tickets():
            self._active[ticket.partition] += 1

    def _release(self, work: _Work) -> None:
        """``work`` left its lane: its partitions have one delivery less in progress."""
        for ticket in work.tickets():
            self._active[ticket.partition] -= 1
            if self._active[ticket.partition] <= 0:
                del self._active[ticket.partition]

    def _settle(self, work: _Work) -> None:
        """Settle every record ``work`` stands for (a digest: each held alert's)."""
        for ticket in work.tickets():
            self._tracker.settle(ticket)

    async def _handle(self, work: _Work) -> None:
        """One attempt at ``work`` and what follows from it, published; then settle."""
        if not any(self._tracker.is_live(t) for t in work.tickets()):
            return  # its partition(s) were revoked meanwhile: the new owner does it
        subscriber = work.endpoint.subscriber
        if self._states.is_disabled(subscriber):
            reason = self._states.disabled()[subscriber].reason
            if await self._publish(self._dead_records(work, "disabled", f"subscriber disabled: {reason}")):
                self._count_dead("disabled", work)
                self._settle(work)
            return
        result, attempt = await self._attempt(work)
        step = next_step(self._policy, work.attempt, result, self._rng)
        records, log_line = self._follow_up(work, result, attempt, step)
        if step.action == DONE and await self._settle_when_acknowledged(work, records, log_line):
            return  # the lane moves on; the record settles when the broker acknowledges
        if await self._publish(records):
            log_line()
            self._settle(work)

    async def _settle_when_acknowledged(self, work: _Work, records: list[Record], log_line) -> bool:
        """Hand a delivered alert's attempt record to the producer and settle the alert in the
        background once the broker acknowledged it; False when that cannot start (the caller then
        publishes and waits as for any other outcome).

        Why: waiting for each acknowledgement (acks=all, a linger and a replica round trip) in the
        lane kept every subscriber to one alert per POST *plus* broker round trip. The guarantee
        is unchanged: the record is settled, so its offset committable, only after the broker has
        its attempt record. Only delivered alerts take this path: a retry, a dead letter or a
        disabling 410 is still waited for in the lane, so what follows it sees its effect. The work
        keeps counting as in progress on its partitions until settled, so a revocation waits for it.
        """
        send_many = getattr(self._publisher, "send_many", None)
        if send_many is None:
            return False
        try:
            sent = await send_many(records)
        except TransientError:
            return False
        self._hold(work)
        task = asyncio.create_task(self._acknowledged(work, records, sent, log_line), name="settle-delivered")
        self._tasks.add(task)
        task.add_done_callback(partial(self._ack_done, work))
        return True

    async def _acknowledged(self, work: _Work, records: list[Record], sent, log_line) -> None:
        """Wait for the broker's acknowledgement of ``sent``, then count and settle ``work``; if it
        failed, publish the records again (at least once: the attempts log may show it twice)."""
        try:
            await sent.wait()
        except TransientError:
            if not await self._publish(records):
                return  # stopping with the broker away: left unsettled, redone after restart
        log_line()
        self._settle(work)

    def _ack_done(self, work: _Work, task: asyncio.Task) -> None:
        """A background settle ended; one that raised is a bug and stops the notifier."""
        self._tasks.discard(task)
        self._release(work)
        if not task.cancelled() and task.exception() is not None:
            log.error("settling a delivery failed unexpectedly", exc_info=task.exception())
            self._failure = task.exception()
            self._stopping.set()

    async def _attempt(self, work: _Work) -> tuple[oc.AttemptOutcome, DeliveryAttempt]:
        """POST once through the endpoint's circuit breaker (or record that it held it back)."""
        loop = asyncio.get_running_loop()
        breaker = self._breaker(work.endpoint)
        before = breaker.state
        if not breaker.allow(loop.time()):
            result = oc.circuit_open((breaker.retry_at() or loop.time()) - loop.time())
            record = attempt_record(work.item, work.endpoint, work.attempt, result, datetime.now(timezone.utc))
        else:
            was = breaker.state
            result, record = await self._sender.attempt(work.item, work.endpoint, work.attempt)
            self.metrics.latency.observe(record.latency_ms / 1000)
            if result.delivered:
                breaker.record_success(loop.time())
            else:
                breaker.record_failure(loop.time())
            if breaker.state != was:
                log.warning("circuit breaker of %s (%s): %s -> %s", work.endpoint.subscriber, work.endpoint.safe_url, was, breaker.state)
        self.metrics.count_attempt(result.outcome)
        if breaker.state != before:  # counting every breaker per attempt would cost O(endpoints)
            self.metrics.breakers_open.set(sum(b.state != CLOSED for b in self._breakers.values()))
        return result, record

    def _breaker(self, endpoint: Endpoint) -> CircuitBreaker:
        """The endpoint's breaker (one per URL: subscribers sharing a URL share its health)."""
        breaker = self._breakers.get(endpoint.url)
        if breaker is None:
            breaker = self._breakers[endpoint.url] = CircuitBreaker(self._settings.breaker_threshold, self._settings.breaker_cooldown)
        return breaker

    def _follow_up(self, work: _Work, result: oc.AttemptOutcome, attempt: DeliveryAttempt, step) -> tuple[list[Record], callable]:
        """The records to produce after an attempt, and the log/count to do once they are durable."""
        key = work.endpoint.subscriber.encode()
        alert, sub = work.item, work.endpoint.subscriber
        if step.action == DONE:
            records = [self._attempt_record(attempt)]

            def done() -> None:
                self.stats.delivered += 1
                self.metrics.count_delivery("delivered")
                if work.digest is not None:
                    self.stats.digests += 1
                log.debug("delivered %s to %s at attempt %d", alert.webhook_id, sub, work.attempt)

            return records, done
        history = [*work.history, attempt][-_HISTORY_MAX:]
        if step.action == DEAD:
            records = [self._attempt_record(attempt), *self._dead_records(work, step.dead_reason, result.error or result.outcome, history)]
            if step.disable:
                state = SubscriberState(subscriber=sub, status="disabled", reason=f"{work.endpoint.safe_url} answered 410 Gone",
                                        webhook_id=alert.webhook_id, at=attempt.at)
                records.append(Record(self._settings.topic("deliveries.subscribers"), state.to_json(), key))

            def dead() -> None:
                if step.disable:
                    self._states.apply(state)
                    log.error("subscriber %s disabled: %s answered 410 Gone (alert %s); its alerts are dead-lettered "
                              "until `newsalert deliveries enable --subscriber %s`", sub, work.endpoint.safe_url, alert.webhook_id, sub)
                self._count_dead(step.dead_reason, work, result.error)

            return records, dead
        due = attempt.at + timedelta(seconds=step.delay)
        attempt = attempt.model_copy(update={"next_attempt_at": due})
        history[-1] = attempt
        envelope = RetryEnvelope(alert=work.alert, digest=work.digest, attempt=work.attempt + 1, due_at=due,
                                 last_error=truncate(result.error or result.outcome, ERROR_MAX), attempts=history)
        topic = self._settings.topic(retry_topic(tier_for(step.delay, self._tiers)))
        records = [self._attempt_record(attempt), Record(topic, envelope.to_json(), key)]

        def retried() -> None:
            self.stats.retried += 1
            self.metrics.count_delivery("retry_scheduled")
            log.warning("delivery of %s to %s (%s) attempt %d/%d failed: %s; next attempt in %.1f s",
                        alert.webhook_id, sub, work.endpoint.safe_url, work.attempt, self._policy.max_attempts, result.error, step.delay)

        return records, retried

    def _attempt_record(self, attempt: DeliveryAttempt) -> Record:
        return Record(self._settings.topic("deliveries.attempts"), attempt.to_json(), attempt.subscriber.encode())

    def _dead_records(self, work: _Work, reason: str, error: str, history: list[DeliveryAttempt] | None = None) -> list[Record]:
        """The dead letter of an alert; for a digest, one per alert it lists, each replayable alone."""
        alerts = work.digest.alerts if work.digest is not None else [work.alert]
        now = datetime.now(timezone.utc)
        topic, key = self._settings.topic("deliveries.dead"), work.endpoint.subscriber.encode()
        return [
            Record(topic, DeadDelivery(alert=alert, reason=reason, attempts=history if history is not None else work.history,
                                       last_error=truncate(error, ERROR_MAX), dead_at=now).to_json(), key)
            for alert in alerts
        ]

    def _count_dead(self, reason: str, work: _Work, error: str | None = None) -> None:
        self.stats.given_up += 1
        self.metrics.count_delivery("dead")
        if work.digest is not None:
            log.error("gave up delivering digest %s (%d alerts) to %s after %d attempt(s), %s: %s; each alert is "
                      "dead-lettered", work.digest.webhook_id, len(work.digest.alerts), work.endpoint.subscriber,
                      work.attempt if reason != "disabled" else 0, reason, error or reason)
            return
        log.error("gave up delivering %s (rule %s, article %s) to %s after %d attempt(s), %s: %s",
                  work.alert.webhook_id, work.alert.rule.id, work.alert.article.id, work.endpoint.subscriber,
                  work.attempt if reason != "disabled" else 0, reason, error or reason)

    async def _publish(self, records: list[Record]) -> bool:
        """Produce ``records`` (acks=all), retrying while the broker is away; False if stopping
        first (the work is then left unsettled and redone after a restart)."""
        tries = 0
        while True:
            try:
                await self._publisher.publish_many(records)
                return True
            except TransientError as exc:
                if self._stopping.is_set():
                    return False
                backoff = _PUBLISH_BACKOFF_S[min(tries, len(_PUBLISH_BACKOFF_S) - 1)]
                tries += 1
                log.warning("the broker did not take %d delivery record(s) (%s); retrying in %.1f s", len(records), exc, backoff)
                try:  # wakes early on stop, so a stop never waits for the back-off
                    await asyncio.wait_for(self._stopping.wait(), timeout=backoff)
                except asyncio.TimeoutError:
                    pass

    async def _drain(self, grace: float, partitions: set | None = None) -> None:
        """Wait up to ``grace`` seconds for in-flight work (of ``partitions``, or all) to settle."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while loop.time() < deadline:
            # Held alerts are not waited for: they are redone by whoever owns their partition next.
            busy = bool(self._tasks) if partitions is None else any(self._active.get(tp) for tp in partitions)
            if not busy:
                return
            await asyncio.sleep(0.05)
        if partitions is None:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            log.warning("stopped with %d record(s) unsettled: they are handled again after restart", self._tracker.pending())

    # -- commits and lag -------------------------------------------------------------------------
    async def _commit(self, partitions: set | None = None) -> None:
        """Commit every moved commit point (of ``partitions``, or all); failures only logged.

        A failed commit loses nothing: the records are handled again (at least once).
        """
        offsets = self._tracker.to_commit(partitions)
        if not offsets or self._consumer is None:
            return
        if self._claims is not None and not await self._claims.flush(self._publish):
            return  # stopping with claims unacknowledged: their alerts are redone after a restart
        try:
            await self._consumer.commit(offsets)
        except KafkaError as exc:
            log.warning("offset commit failed (%s); the records after the last commit may be handled again", exc)
            return
        self._tracker.mark_committed(offsets)
        self.stats.commits += 1

    async def _update_lag(self) -> None:
        """Refresh the lag gauges: per assigned partition, records not fetched plus not settled."""
        retries = 0
        for tp in self._consumer.assignment():
            highwater = self._consumer.highwater(tp)
            if highwater is None:
                continue
            try:
                position = await self._consumer.position(tp)
            except KafkaError:
                continue
            lag = max(highwater - position, 0) + self._tracker.pending(tp)
            self.metrics.lag.labels(tp.topic, str(tp.partition)).set(lag)
            if tp.topic != self._matches:
                retries += lag
        self.metrics.retries_pending.set(retries)

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        """Before giving partitions away: let their in-flight alerts settle briefly, commit, forget."""
        if not revoked:
            return
        # Alerts held for a digest are let go: unsettled, so the next owner fetches them again.
        dropped = self._limiter.drop(lambda held: held.ticket.partition in revoked)
        if dropped:
            log.info("%d alert(s) held for digests left to the partitions' next owner", len(dropped))
        if not self._stopping.is_set():  # when stopping, the lanes are already done
            await self._drain(min(self._settings.shutdown_grace, 10.0), set(revoked))
        await self._commit(set(revoked))
        if self._claims is not None:
            await self._claims.revoked(claims_partitions(revoked, self._matches))
        self._tracker.drop(revoked)
        for tp in revoked:
            self._waiting.pop(tp, None)
            with contextlib.suppress(KeyError):  # its lag is the new owner's to report
                self.metrics.lag.remove(tp.topic, str(tp.partition))
        log.info("partitions revoked: %s", sorted(f"{tp.topic}[{tp.partition}]" for tp in revoked))


    def on_assigned(self, assigned: set[TopicPartition]) -> None:
        """Partitions just assigned: read back the claims of the ``matches`` ones (paused till then)."""
        if self._claims is not None:
            self._claims.assigned(claims_partitions(assigned, self._matches))


_HISTORY_MAX = 50  # attempts carried by a retry or dead letter (the schedule allows at most 51)


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
        self._notifier.on_assigned(set(assigned))
