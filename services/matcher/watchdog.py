"""Stall detection of a matcher worker: no offset committed while there is work to do.

A partition is stalled when its committed offset has not moved for ``NEWSALERT_STALL_TIMEOUT``
while its lag stayed above zero, or when the process was frozen that long while the log grew.
The worker then reports unhealthy and exits with ``EXIT_STALLED`` for its supervisor to restart.
The check runs in a thread with its own loop and Kafka clients, so a stuck faust fetcher or a
blocked loop cannot hide it (``docs/architecture.md``; pure rule: ``StallDetector``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from newsalert.adapters import kafka_clients
from newsalert.config import Settings

log = logging.getLogger(__name__)

EXIT_STALLED = 3
"""Exit status of a worker stopped by stall detection."""
UNHEALTHY_GRACE_S = 3.0
"""Seconds between marking the worker unhealthy and exiting (so a probe can see the 503)."""

Partition = tuple[str, int]


@dataclass
class PartitionView:
    """What the detector knows of one partition."""

    committed: int | None
    end: int
    progress_at: float  # last time the committed offset moved, or the lag was 0, or it was assigned

    @property
    def lag(self) -> int:
        return max(0, self.end - (self.committed or 0))


@dataclass
class Stall:
    """A stalled partition: how long without a commit, and its lag."""

    partition: Partition
    seconds: float
    lag: int

    def __str__(self) -> str:
        topic, number = self.partition
        return f"{topic}[{number}] lag {self.lag}, no commit for {self.seconds:.0f} s"


@dataclass
class StallDetector:
    """The pure stall rule over a series of offset observations (see the module docstring)."""

    timeout_s: float
    partitions: dict[Partition, PartitionView] = field(default_factory=dict)
    assigned: frozenset[Partition] = frozenset()

    def observe(
        self, now: float, assigned: Iterable[Partition], committed: dict[Partition, int | None], ends: dict[Partition, int]
    ) -> list[Stall]:
        """Record one observation; return the assigned partitions that are stalled now."""
        assigned = frozenset(assigned)
        newly = assigned - self.assigned
        self.assigned = assigned
        stalls = []
        for tp, end in ends.items():
            offset = committed.get(tp)
            view = self.partitions.get(tp)
            if view is None or tp in newly:
                # First sight, or just assigned to this worker: its history is another worker's.
                view = self.partitions[tp] = PartitionView(offset, end, now)
            elif offset != view.committed:
                view.committed, view.progress_at = offset, now
            view.end = end
            if view.lag == 0:
                view.progress_at = now
            elif tp in assigned and now - view.progress_at >= self.timeout_s:
                stalls.append(Stall(tp, now - view.progress_at, view.lag))
        return stalls

    def observe_frozen(self, now: float, frozen_s: float, assigned: Iterable[Partition], ends: dict[Partition, int]) -> list[Stall]:
        """After the process was frozen ``frozen_s`` seconds: stalls where lag grew meanwhile.

        Nothing of this process ran while frozen, so nothing was committed; the committed offsets
        of the last observation before the freeze held throughout. Not a stall when the freeze
        was shorter than the timeout or no partition's log-end offset grew beyond them.
        """
        assigned = frozenset(assigned)
        stalls = []
        for tp, end in ends.items():
            view = self.partitions.get(tp)
            if view is None or tp not in assigned or tp not in self.assigned:
                continue
            grew = end > view.end and end > (view.committed or 0)
            view.end = end
            if frozen_s >= self.timeout_s and grew:
                stalls.append(Stall(tp, frozen_s, view.lag))
        return stalls

    def lag(self) -> dict[Partition, int]:
        """Lag per assigned partition at the last observation."""
        return {tp: view.lag for tp, view in self.partitions.items() if tp in self.assigned}


class Watchdog:
    """Runs the stall check in a daemon thread with its own loop and Kafka clients.

    ``assigned()`` returns this worker's current partitions of ``topic``; ``on_lag`` receives the
    lag per partition after every check; ``on_stall`` is called once with the stalls (it marks the
    worker unhealthy), then the process exits with ``EXIT_STALLED`` after ``UNHEALTHY_GRACE_S``.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        group: str,
        topic: str,
        timeout_s: float,
        assigned: Callable[[], Iterable[Partition]],
        on_lag: Callable[[dict[Partition, int]], None],
        on_stall: Callable[[list[Stall]], None],
        interval_s: float | None = None,
        exit: Callable[[int], None] = os._exit,
    ) -> None:
        self.settings, self.bootstrap = settings, settings.kafka_bootstrap
        self.group, self.topic = group, topic
        self.detector = StallDetector(timeout_s)
        self.interval_s = interval_s if interval_s is not None else max(0.5, min(5.0, timeout_s / 4))
        self._assigned, self._on_lag, self._on_stall, self._exit = assigned, on_lag, on_stall, exit
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="matcher-watchdog", daemon=True)

    def start(self) -> None:
        """Start the thread (returns at once)."""
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to stop and wait a little for it."""
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        admin = kafka_clients.admin(self.settings, request_timeout_ms=10000)
        ends = kafka_clients.consumer(self.settings, group_id=None, enable_auto_commit=False, request_timeout_ms=10000)
        try:
            await admin.start()
            await ends.start()
        except Exception:  # noqa: BLE001 - without a broker there is nothing to observe; faust reports it
            log.warning("stall detection could not connect to %s; it is off for this worker", self.bootstrap, exc_info=True)
            await _close(admin, ends)
            return
        try:
            last_tick = time.monotonic()
            while not self._stop.is_set():
                await asyncio.to_thread(self._stop.wait, self.interval_s)
                now = time.monotonic()
                # Ticks are interval_s apart; a much longer gap means the process did not run.
                frozen_s = max(0.0, now - last_tick - self.interval_s)
                last_tick = now
                if frozen_s >= self.detector.timeout_s:
                    await self._check_after_freeze(ends, frozen_s)
                else:
                    await self._check(admin, ends)
        finally:
            await _close(admin, ends)

    async def _check(self, admin: AIOKafkaAdminClient, ends: AIOKafkaConsumer) -> None:
        """One observation; a failing query skips it (no observation is not evidence of a stall)."""
        try:
            numbers = ends.partitions_for_topic(self.topic) or set()
            if not numbers:
                await ends._client.force_metadata_update()  # noqa: SLF001 - the topic's partitions
                numbers = ends.partitions_for_topic(self.topic) or set()
            tps = [TopicPartition(self.topic, n) for n in sorted(numbers)]
            end_offsets = await ends.end_offsets(tps)
            committed = await admin.list_consumer_group_offsets(self.group, partitions=tps)
        except Exception:  # noqa: BLE001 - transient broker trouble: try again next time
            log.debug("stall check skipped: offsets not available", exc_info=True)
            return
        observed_ends = {(tp.topic, tp.partition): offset for tp, offset in end_offsets.items()}
        observed_committed = {
            (tp.topic, tp.partition): (meta.offset if meta is not None and meta.offset >= 0 else None)
            for tp, meta in committed.items()
        }
        stalls = self.detector.observe(time.monotonic(), self._assigned(), observed_committed, observed_ends)
        self._on_lag(self.detector.lag())
        if stalls:
            self._fire(stalls)

    async def _check_after_freeze(self, ends: AIOKafkaConsumer, frozen_s: float) -> None:
        """The frozen form of the rule: only log-end offsets are needed (retried for a few seconds)."""
        log.warning("the process did not run for %.1f s (paused or starved); checking for a stall", frozen_s)
        tps = [TopicPartition(topic, number) for topic, number in sorted(self.detector.assigned)]
        for _ in range(10):
            try:
                end_offsets = await ends.end_offsets(tps)
                break
            except Exception:  # noqa: BLE001 - connections may need re-establishing after a pause
                log.warning("end offsets not available after the freeze yet", exc_info=True)
                await asyncio.sleep(0.5)
        else:
            return
        observed = {(tp.topic, tp.partition): offset for tp, offset in end_offsets.items()}
        stalls = self.detector.observe_frozen(time.monotonic(), frozen_s, self._assigned(), observed)
        if stalls:
            self._fire(stalls)

    def _fire(self, stalls: list[Stall]) -> None:
        log.critical(
            "stalled: %s; marking the worker unhealthy and exiting with status %d so that it is restarted",
            "; ".join(map(str, stalls)), EXIT_STALLED,
        )
        self._on_stall(stalls)
        self._stop.wait(UNHEALTHY_GRACE_S)
        for handler in logging.getLogger().handlers:
            handler.flush()
        self._exit(EXIT_STALLED)


async def _close(admin: AIOKafkaAdminClient, ends: AIOKafkaConsumer) -> None:
    for client in (ends, admin):
        try:
            await (client.stop() if isinstance(client, AIOKafkaConsumer) else client.close())
        except Exception:  # noqa: BLE001 - closing is best effort
            pass
