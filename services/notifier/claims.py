"""The notifier's story de-duplication: claims checked in memory, made durable on ``matches.claims``.

Why here: ``matches`` is keyed by subscriber, so all alerts of one subscriber, whatever article
they come from, pass through the one notifier that owns their partition. That notifier decides
alone, from memory (``newsalert.domain.dedup.ClaimBook``), whether an alert repeats a story its
(subscriber, rule) already had within ``NEWSALERT_DEDUP_WINDOW``. Doing it here replaced a second
faust stage in the matcher (a candidates topic, a faust Table and three changelog writes per
alert), which capped the pipeline at about half its rate (issue 7).

Durability, in three rules:

1. The claims of the alerts let through from one fetch of one ``matches`` partition go out as one
   ``ClaimBatch`` record to the partition of ``matches.claims`` with the same number (one record
   per fetch, not per alert: every Kafka record costs the producer tens of microseconds, and the
   notifier is the pipeline's busiest process). It is handed to the producer after the fetch is
   taken in and not waited for in the delivery path.
2. Before any offset of ``matches`` is committed, ``flush`` waits until every claim handed over so
   far is acknowledged (re-publishing what failed). So a committed alert's claim is durable; a
   claim lost in a crash belongs to an alert that is not committed either and is fetched and
   claimed again, in its partition's order.
3. When the notifier is assigned a ``matches`` partition, that partition is paused until its
   claims have been read back (``recover``); fetching resumes only then, so no alert is judged
   against an incomplete book. Claims found expired are not loaded; a batch whose claims have all
   expired gets a tombstone, so the compacted topic does not grow without end.

A claim names its record (``partition:offset``), so an alert fetched again after a crash is not
a duplicate of itself: it is delivered again with the same ``webhook_id`` (at least once).
Alerts without fingerprints (no ``newsalert-dedup`` header) are delivered without de-duplication.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from newsalert.adapters.broker import Publisher, Record, Sent
from newsalert.config import Settings
from newsalert.domain.dedup import ClaimBook, is_expired
from newsalert.errors import TransientError
from schemas import Alert, ClaimBatch, StoryClaim
from schemas.dedup import DEDUP_HEADER

log = logging.getLogger(__name__)

_RECOVERY_RETRY_S = 2.0
_READ_TIMEOUT_MS = 500


def fingerprints_of(headers: Iterable[tuple[str, bytes]] | None) -> list[str]:
    """The story fingerprints an alert record carries ([] when none, or unreadable)."""
    for name, raw in headers or ():
        if name == DEDUP_HEADER and raw:
            try:
                prints = json.loads(raw)
            except ValueError:
                return []
            return [str(fp) for fp in prints] if isinstance(prints, list) else []
    return []


class StoryClaims:
    """De-duplication of one notifier: the claim book, its writes and its recovery."""

    def __init__(self, settings: Settings, publisher: Publisher) -> None:
        self.book = ClaimBook(settings.dedup_window)
        self._settings = settings
        self._publisher = publisher
        self._topic = settings.topic("matches.claims")
        self._unacked: list[tuple[Sent | None, list[Record]]] = []
        self._pending: dict[int, list[StoryClaim]] = {}  # partition -> claims not handed over yet
        self._recovering: dict[int, asyncio.Task] = {}
        self.loaded = 0
        self.expired = 0

    # -- the decision ------------------------------------------------------------------------------
    async def admit(self, partition: int, offset: int, timestamp_ms: int | None, alert: Alert, headers) -> bool:
        """True when ``alert`` (record ``partition``:``offset`` of ``matches``) is to be delivered;
        False when it repeats a story its (subscriber, rule) had within the window."""
        prints = fingerprints_of(headers)
        if not prints:
            return True
        record = f"{partition}:{offset}"
        at = (timestamp_ms or 0) / 1000
        if not self.book.check_and_claim(partition, alert.subscriber, alert.rule.id, prints, record, at):
            return False
        claim = StoryClaim(subscriber=alert.subscriber, rule=alert.rule.id, fingerprints=prints, at=at, by=record)
        self._pending.setdefault(partition, []).append(claim)
        return True

    async def send_pending(self) -> None:
        """Hand the claims made since the last call to the producer, one batch per partition."""
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        records = [
            Record(self._topic, ClaimBatch(claims=claims).to_json(), key=claims[0].by.encode(), partition=partition)
            for partition, claims in pending.items()
        ]
        await self._send(records)

    async def _send(self, records: list[Record]) -> None:
        """Hand ``records`` to the producer; ``flush`` waits for them (or re-publishes them)."""
        try:
            sent = await self._publisher.send_many(records)
        except TransientError as exc:
            log.warning("the producer did not take %d claim(s) (%s); they are published again before the next commit", len(records), exc)
            sent = None
        self._unacked.append((sent, records))

    async def flush(self, publish: Callable[[list[Record]], Awaitable[bool]]) -> bool:
        """Wait until every claim handed over is acknowledged; failed ones go through ``publish``
        (which retries while the broker is away). False when ``publish`` gave up (stopping): the
        caller must not commit then."""
        await self.send_pending()
        pending, self._unacked = self._unacked, []
        for index, (sent, records) in enumerate(pending):
            if sent is not None:
                try:
                    await sent.wait()
                    continue
                except TransientError as exc:
                    log.warning("the broker did not acknowledge %d claim(s) (%s); publishing them again", len(records), exc)
            if not await publish(records):
                self._unacked = pending[index:] + self._unacked
                return False
        return True

    # -- partitions ----------------------------------------------------------------------------------
    def recovering(self, partition: int) -> bool:
        """True while the claims of ``matches`` partition ``partition`` are being read back."""
        return partition in self._recovering

    def assigned(self, partitions: Iterable[int]) -> None:
        """Start reading back the claims of newly assigned ``matches`` partitions (in the background;
        they stay paused until ``recovering`` turns False)."""
        for partition in partitions:
            if partition not in self._recovering:
                self.book.forget(partition)
                task = asyncio.create_task(self._recover_until_done(partition), name=f"claims-{partition}")
                self._recovering[partition] = task
                task.add_done_callback(lambda _t, p=partition: self._recovered(p, _t))

    def _recovered(self, partition: int, task: asyncio.Task) -> None:
        if self._recovering.get(partition) is task:
            del self._recovering[partition]

    async def revoked(self, partitions: Iterable[int]) -> None:
        """Forget the claims of partitions given away (their next owner reads them back)."""
        for partition in partitions:
            task = self._recovering.pop(partition, None)
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self.book.forget(partition)
            self._pending.pop(partition, None)  # flushed by the revocation's commit before this

    async def close(self) -> None:
        """Cancel recoveries still running."""
        await self.revoked(list(self._recovering))

    async def _recover_until_done(self, partition: int) -> None:
        while True:
            try:
                await self.recover(partition)
                return
            except (KafkaError, TransientError, OSError) as exc:
                log.warning("reading back the claims of %s[%d] failed (%s); retrying in %.0f s", self._topic, partition, exc, _RECOVERY_RETRY_S)
                self.book.forget(partition)
                await asyncio.sleep(_RECOVERY_RETRY_S)

    async def recover(self, partition: int) -> None:
        """Read ``matches.claims`` partition ``partition`` from its start to its current end into
        the book; expired claims are tombstoned instead of loaded."""
        latest = await read_claims(self._settings, self._topic, partition)
        now = time.time()
        tombstones: list[Record] = []
        loaded = expired = 0
        for key, batch in latest.items():
            live = [c for c in batch.claims if not is_expired(c.at, now, self.book.window_s)]
            expired += len(batch.claims) - len(live)
            if not live:
                tombstones.append(Record(self._topic, None, key=key, partition=partition))
            for claim in live:
                self.book.load(partition, claim.subscriber, claim.rule, claim.fingerprints, claim.by, claim.at)
            loaded += len(live)
        self.loaded += loaded
        self.expired += expired
        if tombstones:
            # Not waited for: a lost tombstone only leaves an expired batch to the next read-back.
            with contextlib.suppress(TransientError):
                await self._publisher.send_many(tombstones)
        log.info("claims of %s[%d] read back: %d loaded, %d expired, %d batch(es) tombstoned",
                 self._topic, partition, loaded, expired, len(tombstones))


async def read_claims(settings: Settings, topic: str, partition: int) -> dict[bytes, ClaimBatch]:
    """The latest claim batch per key of one partition, from its start to its end at call time, in the
    order the keys were last written (a tombstone removes its key; unreadable records are skipped)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=None, enable_auto_commit=False,
        auto_offset_reset="earliest", client_id="newsalert-notifier-claims",
    )
    tp = TopicPartition(topic, partition)
    latest: dict[bytes, ClaimBatch] = {}
    await consumer.start()
    try:
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        await consumer.seek_to_beginning(tp)
        while await consumer.position(tp) < end:
            batch = await consumer.getmany(tp, timeout_ms=_READ_TIMEOUT_MS, max_records=5000)
            for record in batch.get(tp, ()):
                _apply(latest, record)
    finally:
        await consumer.stop()
    return latest


def _apply(latest: dict[bytes, ClaimBatch], record) -> None:
    """Fold one claims record into ``latest`` (last write of a key wins and moves to the end)."""
    key = record.key or b""
    latest.pop(key, None)
    if record.value is None:
        return
    try:
        latest[key] = ClaimBatch.model_validate_json(record.value)
    except ValidationError as exc:
        log.warning("skipping an unreadable claim at %s[%d]@%d: %s", record.topic, record.partition, record.offset, exc)


def claims_partitions(partitions: Sequence[TopicPartition], matches_topic: str) -> list[int]:
    """The numbers of the ``matches`` partitions among ``partitions``."""
    return sorted(tp.partition for tp in partitions if tp.topic == matches_topic)
