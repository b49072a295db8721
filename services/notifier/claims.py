"""The notifier's story de-duplication: claims checked in memory, made durable on ``matches.claims``.

The claims let through from one fetch of a ``matches`` partition go out as one ``ClaimBatch`` to
the same partition of ``matches.claims``; ``flush`` makes them durable before any offset they
cover is committed; a newly assigned partition stays paused until its claims are read back
(``recover``), expired batches being tombstoned. Why it lives here: ``docs/architecture.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from newsalert.adapters.broker import Publisher, Record, Sent
from newsalert.adapters.reading import KafkaReader, Message, TopicReader
from newsalert.config import Settings
from newsalert.domain.dedup import ClaimBook, is_expired
from newsalert.errors import TransientError
from newsalert.schemas import Alert, ClaimBatch, StoryClaim
from newsalert.schemas.dedup import DEDUP_HEADER, FINGERPRINTS_MAX

log = logging.getLogger(__name__)

_RECOVERY_RETRY_S = 2.0


def fingerprints_of(headers: Iterable[tuple[str, bytes]] | None) -> list[str]:
    """The story fingerprints an alert record carries ([] when none, or unreadable)."""
    for name, raw in headers or ():
        if name == DEDUP_HEADER and raw:
            try:
                prints = json.loads(raw)
            except (ValueError, RecursionError):  # a corrupt header: the alert is delivered, not de-duplicated
                return []
            if not isinstance(prints, list) or len(prints) > FINGERPRINTS_MAX:  # not what the matcher writes
                return []
            return [str(fp) for fp in prints]
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
        self._recovering: dict[int, asyncio.Task] = {}  # partition -> the read-back task covering it
        self._reader: KafkaReader | None = None
        self._reading = asyncio.Lock()
        self.loaded = 0
        self.expired = 0

    # -- the decision ------------------------------------------------------------------------------
    def admit(self, partition: int, offset: int, timestamp_ms: int | None, alert: Alert, headers) -> bool:
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
        """Start reading back the claims of newly assigned ``matches`` partitions, all in one task
        in the background; they stay paused until ``recovering`` turns False."""
        new = sorted(p for p in partitions if p not in self._recovering)
        if not new:
            return
        for partition in new:
            self.book.forget(partition)
        task = asyncio.create_task(self._recover_until_done(new), name=f"claims-{new}")
        for partition in new:
            self._recovering[partition] = task
        task.add_done_callback(self._recovered)

    def _recovered(self, task: asyncio.Task) -> None:
        for partition in [p for p, t in self._recovering.items() if t is task]:
            del self._recovering[partition]

    async def revoked(self, partitions: Iterable[int]) -> None:
        """Forget the claims of partitions given away (their next owner reads them back); a
        read-back that covered some of them starts again for the partitions still held."""
        gone = set(partitions)
        for task in {self._recovering[p] for p in gone if p in self._recovering}:
            covered = [p for p, t in self._recovering.items() if t is task]
            for partition in covered:
                del self._recovering[partition]
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self.assigned(p for p in covered if p not in gone)
        for partition in gone:
            self.book.forget(partition)
            self._pending.pop(partition, None)  # flushed by the revocation's commit before this

    async def close(self) -> None:
        """Cancel read-backs still running and close the claims reader."""
        await self.revoked(list(self._recovering))
        if self._reader is not None:
            await self._reader.stop()
            self._reader = None

    async def _recover_until_done(self, partitions: list[int]) -> None:
        while True:
            try:
                await self.recover(partitions)
                return
            except (KafkaError, TransientError, OSError) as exc:
                log.warning("reading back the claims of %s%s failed (%s); retrying in %.0f s", self._topic, partitions, exc, _RECOVERY_RETRY_S)
                for partition in partitions:
                    self.book.forget(partition)
                await asyncio.sleep(_RECOVERY_RETRY_S)

    async def recover(self, partitions: Iterable[int]) -> None:
        """Read ``matches.claims`` partitions ``partitions`` from their start to their current end
        into the book; expired claims are not loaded, and a batch of expired claims is tombstoned."""
        partitions = list(partitions)
        async with self._reading:  # one reader: one read-back at a time
            latest = await read_claims(await self._started_reader(), self._topic, partitions)
        now = time.time()
        for partition in partitions:
            await self._load(partition, latest.get(partition, {}), now)

    async def _load(self, partition: int, latest: dict[bytes, ClaimBatch], now: float) -> None:
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
            # Handed over, not waited for: a lost tombstone only leaves an expired batch to the next read-back.
            with contextlib.suppress(TransientError):
                await self._publisher.send_many(tombstones)
        log.info("claims of %s[%d] read back: %d loaded, %d expired, %d batch(es) tombstoned",
                 self._topic, partition, loaded, expired, len(tombstones))

    async def _started_reader(self) -> TopicReader:
        """The claims reader: outside any group, started on first use, kept open (starting a
        consumer per read-back cost a bootstrap and a metadata round trip each time)."""
        if self._reader is None:
            reader = KafkaReader(self._settings, "newsalert-notifier-claims")
            await reader.start()
            self._reader = reader
        return self._reader


async def read_claims(reader: TopicReader, topic: str, partitions: list[int]) -> dict[int, dict[bytes, ClaimBatch]]:
    """Per partition, the latest claim batch per key, from the partition's start to its end at call
    time, in the order the keys were last written (a tombstone removes its key; unreadable records
    are skipped)."""
    latest: dict[int, dict[bytes, ClaimBatch]] = {p: {} for p in partitions}
    async for message in reader.read_to_end(topic, partitions, timeout_s=float("inf")):
        _apply(latest[message.partition], message)
    return latest


def _apply(latest: dict[bytes, ClaimBatch], record: Message) -> None:
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
