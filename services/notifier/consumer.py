"""The notifier's consumer loop: fetch, flow control, commits and rebalances.

Consumes ``matches`` and the ``deliveries.retry.<tier>s`` topics in one group, puts each record on
its subscriber's lane and commits only settled prefixes (at least once), pausing partitions rather
than sleeping. Retry timing, commits and back-pressure: ``docs/architecture.md`` ("Notifier
consumer").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from typing import Mapping

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from newsalert.adapters import kafka_clients
from newsalert.adapters.broker import Publisher
from newsalert.adapters.kafka_pacing import broker_backoff
from newsalert.adapters.topics import RETRY_TOPIC_PREFIX, retry_topic
from newsalert.config import Settings
from newsalert.errors import TransientError
from newsalert.services.notifier.breakers import EndpointBreakers
from newsalert.services.notifier.claims import StoryClaims, claims_partitions
from newsalert.services.notifier.deliver import Deliverer
from newsalert.domain.delivery.endpoints import Endpoint
from newsalert.services.notifier.flow import FlowControl
from newsalert.services.notifier.intake import RecordIntake
from newsalert.services.notifier.lanes import Lanes
from newsalert.services.notifier.metrics import NotifierMetrics, NotifierStats, update_lag
from newsalert.services.notifier.offsets import OffsetTracker
from newsalert.services.notifier.produce import DurablePublisher
from newsalert.services.notifier.sender import WebhookSender
from newsalert.services.notifier.states import SubscriberStates

log = logging.getLogger(__name__)

_FETCH_TIMEOUT_MS = 200


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
        self.metrics = metrics or NotifierMetrics()
        self.stats = NotifierStats()
        self.tracker = OffsetTracker()
        self._stopping = asyncio.Event()
        self._producer = DurablePublisher(publisher, self._stopping, broker_backoff(settings))
        breakers = EndpointBreakers(settings, sender, self.metrics)
        self.deliverer = Deliverer(settings, self.tracker, breakers, self._producer, states, self.stats, self.metrics,
                                   rng or random.Random())
        self.lanes = Lanes(settings.notifier_max_in_flight_per_subscriber, self.deliverer.handle, self._failed, self._stopping,
                           settings.notifier_batch_max_bytes)
        self.deliverer.attach(self.lanes)
        self._matches = settings.topic("matches")
        self._flow = FlowControl(settings.notifier_max_pending)
        self._consumer: AIOKafkaConsumer | None = None
        self._claims = StoryClaims(settings, publisher) if settings.dedup_window > 0 else None
        self.intake = RecordIntake(endpoints, self.tracker, self.lanes, self._claims, self._producer,
                                   settings.topic("matches.rejected"), self.stats, self.metrics)
        self._failure: BaseException | None = None
        self.running = False

    def stop(self) -> None:
        """Ask the loop to finish: no more fetching, in-flight attempts end, then commit."""
        self._stopping.set()

    async def run(self) -> None:
        """Consume until ``stop()``; then drain in-flight attempts (bounded by the grace), commit, close."""
        self._consumer = kafka_clients.consumer(
            self._settings, group_id=self._settings.group("notifier"),
            client_id="newsalert-notifier", enable_auto_commit=False, auto_offset_reset="earliest",
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
            if not await self.lanes.drain(self._settings.shutdown_grace):
                log.warning("stopped with %d record(s) unsettled: they are handled again after restart", self.tracker.pending())
            await self._commit()
            if self._claims is not None:
                await self._claims.close()
            await self._consumer.stop()
            log.info("notifier stopped: %s", self.stats)
        if self._failure is not None:
            raise RuntimeError("a delivery task failed unexpectedly") from self._failure

    def _failed(self, exc: BaseException) -> None:
        """A delivery task raised: a bug, which stops the notifier."""
        self._failure = exc
        self._stopping.set()

    async def _topics(self) -> list[str]:
        """``matches``, the retry topics of the schedule, and any other retry topic that exists
        (left by an earlier schedule: its records must still be delivered)."""
        tiers = self.deliverer.tiers
        wanted = {self._matches, *(self._settings.topic(retry_topic(t)) for t in tiers)}
        prefix = self._settings.topic(RETRY_TOPIC_PREFIX)
        wanted |= {t for t in await self._consumer.topics() if t.startswith(prefix)}
        return sorted(wanted)

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_commit = loop.time() + self._settings.notifier_commit_interval
        while not self._stopping.is_set():
            batches = await self._consumer.getmany(timeout_ms=_FETCH_TIMEOUT_MS, max_records=self._flow.fetch_size(self._consumer, self.tracker.pending(), self._claims_pending))
            for tp, records in batches.items():
                for record in records:
                    if not await self._accept(tp, record):
                        break  # the partition was rewound to a retry not yet due
            if self._claims is not None:
                await self._claims.send_pending()  # one claims record per partition of this fetch
            self.lanes.close_digests(held_cap=max(1, self._settings.notifier_max_pending // 2))
            now = loop.time()
            if now >= next_commit:
                await self._commit()
                await update_lag(self.metrics, self._consumer, self.tracker, self._matches)
                if self._claims is not None:
                    self._claims.book.expire(time.time())
                next_commit = now + self._settings.notifier_commit_interval

    async def _accept(self, tp: TopicPartition, record) -> bool:
        """Take one record; False when its partition was rewound (claims still being read back, or
        a retry not due yet: the rest of its batch is then dropped and fetched again later)."""
        if self._claims_pending(tp):  # fetched just before the pause took effect
            self._consumer.seek(tp, record.offset)
            return False
        wait = await self.intake.take(tp, record, tp.topic != self._matches)
        if wait > 0:
            self._consumer.seek(tp, record.offset)
            self._flow.wait(tp, wait)
            return False
        return True

    def _claims_pending(self, tp: TopicPartition) -> bool:
        """True while a ``matches`` partition waits for its claims to be read back."""
        return self._claims is not None and tp.topic == self._matches and self._claims.recovering(tp.partition)

    async def _commit(self, partitions: set | None = None) -> None:
        """Commit every moved commit point (of ``partitions``, or all); a failure is only logged
        (the records are handled again: at least once)."""
        offsets = self.tracker.to_commit(partitions)
        if not offsets or self._consumer is None:
            return
        if self._claims is not None and not await self._claims.flush(self._producer.publish):
            return  # stopping with claims unacknowledged: their alerts are redone after a restart
        try:
            await self._consumer.commit(offsets)
        except KafkaError as exc:
            log.warning("offset commit failed (%s); the records after the last commit may be handled again", exc)
            return
        self.tracker.mark_committed(offsets)
        self.stats.commits += 1

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        """Before giving partitions away: let their in-flight alerts settle briefly, commit, forget."""
        if not revoked:
            return
        dropped = self.lanes.drop_held(revoked)  # unsettled: the next owner fetches them again
        if dropped:
            log.info("%d alert(s) held for digests left to the partitions' next owner", dropped)
        if not self._stopping.is_set():  # when stopping, the lanes are already done
            await self.lanes.drain(min(self._settings.shutdown_grace, 10.0), set(revoked))
        await self._commit(set(revoked))
        if self._claims is not None:
            await self._claims.revoked(claims_partitions(revoked, self._matches))
        self.tracker.drop(revoked)
        for tp in revoked:
            self._flow.forget(tp)
            with contextlib.suppress(KeyError):  # its lag is the new owner's to report
                self.metrics.lag.remove(tp.topic, str(tp.partition))
        log.info("partitions revoked: %s", sorted(f"{tp.topic}[{tp.partition}]" for tp in revoked))

    def on_assigned(self, assigned: set[TopicPartition]) -> None:
        """Partitions just assigned: read back the claims of the ``matches`` ones (paused till then)."""
        if self._claims is not None:
            self._claims.assigned(claims_partitions(assigned, self._matches))


class _Revocations(ConsumerRebalanceListener):
    """Commits what is settled before partitions move to another notifier."""

    def __init__(self, notifier: Notifier) -> None:
        self._notifier = notifier

    async def on_partitions_revoked(self, revoked) -> None:
        await self._notifier.on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned) -> None:
        log.info("partitions assigned: %s", sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned))
        self._notifier.on_assigned(set(assigned))
