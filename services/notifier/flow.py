"""Flow control of the notifier's consumer: which partitions to fetch from now, and how much.

Paused: every partition while ``notifier_max_pending`` records are unsettled (until below half
again), so memory stays bounded behind a slow subscriber; a retry partition until its head record
is due (it was rewound to it); a ``matches`` partition until its claims are read back. Paused
partitions keep the consumer polling, so it stays in its group meanwhile.
"""

from __future__ import annotations

import asyncio
from typing import Callable, Hashable

MAX_FETCH = 500
"""Records per fetch at most."""


class FlowControl:
    """Pauses and resumes partitions before each fetch; see the module docstring."""

    def __init__(self, max_pending: int) -> None:
        self._limit = max_pending
        self._waiting: dict[Hashable, float] = {}  # retry partition -> loop time its head is due
        self._over_limit = False

    def wait(self, partition: Hashable, seconds: float) -> None:
        """Keep ``partition`` paused for ``seconds`` (its head record is a retry not due yet)."""
        self._waiting[partition] = asyncio.get_running_loop().time() + seconds

    def forget(self, partition: Hashable) -> None:
        """The partition was revoked: nothing to wait for on it any more."""
        self._waiting.pop(partition, None)

    def fetch_size(self, consumer, pending: int, recovering: Callable[[Hashable], bool]) -> int:
        """Pause what must not be fetched now on ``consumer``, resume the rest; the next fetch's
        size, with ``pending`` records unsettled."""
        now = asyncio.get_running_loop().time()
        self._waiting = {tp: due for tp, due in self._waiting.items() if due > now}
        if pending >= self._limit:
            self._over_limit = True
        elif self._over_limit and pending < self._limit // 2 + 1:
            self._over_limit = False
        assigned = consumer.assignment()
        # Re-applied every round so that partitions assigned meanwhile follow the rule too.
        held = set(assigned) if self._over_limit else {tp for tp in self._waiting if tp in assigned}
        held |= {tp for tp in assigned if recovering(tp)}
        if held:
            consumer.pause(*held)
        free = set(assigned) - held
        if free & consumer.paused():
            consumer.resume(*free)
        return max(1, min(MAX_FETCH, self._limit - pending))
