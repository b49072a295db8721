"""Is the broker reachable right now? A metadata request with a short timeout, answer cached.

``/readyz`` and the check before each publish share one ``BrokerReadiness``: a load balancer
polling ``/readyz`` and a burst of requests cost at most one probe per cache period, and a
request arriving while the broker is down is answered 503 at once instead of after the
producer's full delivery timeout.
"""

from __future__ import annotations

import asyncio
import time
from typing import Callable

from newsalert.adapters import kafka_clients
from newsalert.config import Settings


class BrokerReadiness:
    """Cached broker reachability: true when any bootstrap server answers a metadata request."""

    def __init__(
        self,
        settings: Settings,
        timeout_s: float,
        cache_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._timeout_s = timeout_s
        self._cache_s = cache_s
        self._clock = clock
        self._lock = asyncio.Lock()
        self._answer: bool | None = None
        self._at = float("-inf")

    async def ready(self) -> bool:
        """The cached answer if fresh, else a new probe (concurrent callers share it)."""
        async with self._lock:
            if self._answer is None or self._clock() - self._at > self._cache_s:
                self._answer = await self._probe()
                self._at = self._clock()
            return self._answer

    def forget(self) -> None:
        """Drop the cached answer (after a publish failed, the next caller probes again)."""
        self._answer = None

    async def _probe(self) -> bool:
        return await kafka_clients.answers(self._settings, self._timeout_s)
