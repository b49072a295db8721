"""Per-subscriber lanes: the deliveries waiting or running for each subscriber, and held alerts.

A lane runs at most ``notifier_max_in_flight_per_subscriber`` deliveries of its subscriber at
once (1 by default: partition order is kept); lanes of different subscribers run concurrently,
bounded by the sender's global in-flight limit. Each running delivery is one task of ``handle``.

Rate limits and digests (``max_per_minute``, ``digest``; policy in
``newsalert.domain.delivery.ratelimit``): a new alert over its subscriber's limit is *held*
instead of queued; when its digest is due, one ``Digest`` delivery carrying every held alert goes
on the lane like any alert. A held alert's record stays unsettled until that digest is settled,
so a crash re-fetches it (no digest topic, no restart protocol). Held alerts count against
``notifier_max_pending``: the fullest digests are sent early once they exceed half of it, so
fetching never stalls for everyone behind one subscriber's window.

Work in progress is counted per partition (``in_progress``): a revocation waits for it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Hashable, Iterable

from newsalert.domain.alerts import new_digest
from newsalert.domain.delivery.ratelimit import SEND, RateLimiter
from newsalert.services.notifier.batching import BATCH_BYTES_MAX, take_batch
from newsalert.services.notifier.work import Held, Work

log = logging.getLogger(__name__)


@dataclass
class _Lane:
    queue: deque[Work] = field(default_factory=deque)
    running: int = 0


class Lanes:
    """The subscribers' lanes and held alerts; see the module docstring.

    ``handle`` makes one delivery; ``on_failure`` is told of a task that raised (a bug);
    ``stopping`` ends the starting of new deliveries.
    """

    def __init__(
        self,
        per_subscriber: int,
        handle: Callable[[Work], Awaitable[None]],
        on_failure: Callable[[BaseException], None],
        stopping: asyncio.Event,
        batch_bytes: int = BATCH_BYTES_MAX,
    ) -> None:
        self._bound = per_subscriber
        self._batch_bytes = batch_bytes
        self._handle = handle
        self._on_failure = on_failure
        self._stopping = stopping
        self._lanes: dict[str, _Lane] = {}
        self._tasks: set[asyncio.Task] = set()
        self._active: Counter = Counter()
        self._limiter: RateLimiter[Held] = RateLimiter()

    # -- queues ----------------------------------------------------------------------------------
    def queue(self, work: Work) -> None:
        """Put ``work`` on its subscriber's lane and start what the lane may start."""
        self.hold(work)
        lane = self._lanes.setdefault(work.endpoint.subscriber, _Lane())
        lane.queue.append(work)
        self._pump(work.endpoint.subscriber, lane)

    def route(self, work: Work, now: float | None = None) -> bool:
        """Queue a new alert, or hold it for its subscriber's digest (False) when over its limit."""
        held = Held(work.ticket, work.alert, work.endpoint)
        if self._limiter.route(work.endpoint.subscriber, work.endpoint.limit, held, time.time() if now is None else now) == SEND:
            self.queue(work)
            return True
        return False

    def close_digests(self, held_cap: int, now: float | None = None) -> int:
        """Queue every digest that is due (window over, full, or more than ``held_cap`` held
        overall); the number queued."""
        closed_all = self._limiter.due(time.time() if now is None else now, held_cap=held_cap)
        for closed in closed_all:
            digest = new_digest(closed.subscriber, closed.start, closed.end, [h.alert for h in closed.items])
            log.info("digest %s for %s: %d alert(s) held since %s", digest.webhook_id, closed.subscriber,
                     len(closed.items), digest.window_start.isoformat())
            self.queue(Work(None, None, closed.items[-1].endpoint, digest=digest, held=[h.ticket for h in closed.items]))
        return len(closed_all)

    def drop_held(self, partitions: set) -> int:
        """Let go of the alerts held from ``partitions`` (unsettled: their next owner holds them)."""
        return len(self._limiter.drop(lambda held: held.ticket.partition in partitions))

    # -- work in progress ------------------------------------------------------------------------
    def track(self, job: Awaitable[None], name: str) -> None:
        """Run ``job`` in the background; a revocation or stop waits for it (it ``hold``s and
        ``release``s the work it stands for itself)."""
        task = asyncio.create_task(job, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def hold(self, work: Work) -> None:
        """Count ``work`` in progress on its partitions until ``release``."""
        for ticket in work.tickets():
            self._active[ticket.partition] += 1

    def release(self, work: Work) -> None:
        """``work`` is no longer in progress (settled, or left for a restart)."""
        for ticket in work.tickets():
            self._active[ticket.partition] -= 1
            if self._active[ticket.partition] <= 0:
                del self._active[ticket.partition]

    def in_progress(self, partition: Hashable) -> int:
        """Deliveries queued, running or being settled that stand for records of ``partition``."""
        return self._active.get(partition, 0)

    def busy(self, partitions: Iterable[Hashable] | None = None) -> bool:
        """True while a task runs (any, or one standing for records of ``partitions``)."""
        if partitions is None:
            return bool(self._tasks)
        return any(self._active.get(tp) for tp in partitions)

    async def drain(self, grace: float, partitions: set | None = None) -> bool:
        """Wait up to ``grace`` seconds for the work (of ``partitions``, or all) to end; True if it
        did. Held alerts are not waited for (whoever owns their partition next redoes them). When
        waiting for all, what is still running after the grace is cancelled."""
        deadline = asyncio.get_running_loop().time() + grace
        while asyncio.get_running_loop().time() < deadline:
            if not self.busy(partitions):
                return True
            await asyncio.sleep(0.05)
        if partitions is None:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return False

    def _pump(self, subscriber: str, lane: _Lane) -> None:
        """Start a worker for the lane if it may run one more (a worker takes deliveries from the
        lane until it is empty: one task per busy lane, not per delivery)."""
        if lane.queue and lane.running < self._bound and not self._stopping.is_set():
            lane.running += 1
            self.track(self._worker(subscriber, lane), f"deliver-{subscriber}")

    async def _worker(self, subscriber: str, lane: _Lane) -> None:
        try:
            while lane.queue and not self._stopping.is_set():
                work = take_batch(lane.queue, self._batch_bytes)
                try:
                    await self._handle(work)
                finally:
                    self.release(work)
        finally:  # no await between the last look at the queue and here: no work is stranded
            lane.running -= 1
            if not lane.queue and lane.running == 0 and self._lanes.get(subscriber) is lane:
                del self._lanes[subscriber]

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("task %s failed unexpectedly", task.get_name(), exc_info=task.exception())
            self._on_failure(task.exception())
