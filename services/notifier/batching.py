"""Batched delivery: the alerts waiting together on a lane of a subscriber with ``batch_max``.

When a lane's worker takes its next delivery and it is a new alert (first attempt, not a digest,
not a retry) of a subscriber with ``batch_max: N``, the new alerts queued right behind it join it,
up to N in all, in order, and go as one signed POST (``Batch``; body ``type: "batch"``). A lone
alert still goes alone at once: nothing waits for a batch to fill. The batch is retried as one
(its ``RetryEnvelope`` carries it) and, if given up, each alert is dead-lettered alone. Its size is
also bounded in bytes of alert records (``NEWSALERT_NOTIFIER_BATCH_MAX_BYTES``, 512 KB by default), so
its retry record stays under the broker's default limit of 1 MB per record.
"""

from __future__ import annotations

from collections import deque

from newsalert.domain.alerts import new_batch
from newsalert.services.notifier.work import Work

BATCH_BYTES_MAX = 512 * 1024
"""Most bytes of alert records in one batch, by default (the setting's default)."""


def batchable(work: Work) -> bool:
    """True for a new alert (first attempt, alone) of a subscriber that takes batches."""
    return (work.alert is not None and work.group is None and work.attempt == 1 and not work.history
            and (work.endpoint.batch_max or 0) > 1 and work.endpoint.format == "standard")


def take_batch(queue: deque[Work], max_bytes: int = BATCH_BYTES_MAX) -> Work:
    """The next delivery of a lane: its head, with the batchable alerts right behind it when it is
    batchable itself (see the module docstring)."""
    first = queue.popleft()
    if not batchable(first) or not queue or not batchable(queue[0]):
        return first
    taken, size = [first], first.size
    limit = first.endpoint.batch_max or 1
    while queue and len(taken) < limit and batchable(queue[0]) and size + queue[0].size <= max_bytes:
        size += queue[0].size
        taken.append(queue.popleft())
    if len(taken) == 1:
        return first
    batch = new_batch(first.endpoint.subscriber, [w.alert for w in taken])
    return Work(first.ticket, None, first.endpoint, batch=batch, held=[t for w in taken[1:] for t in w.tickets()], size=size)
