"""One attempt through its endpoint's circuit breaker (one breaker per URL).

Subscribers sharing a URL share its health. While a breaker holds requests back, the attempt is
recorded as ``circuit_open`` without a request and retried like any failure.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone

from newsalert.config import Settings
from newsalert.domain.delivery import outcome as oc
from newsalert.domain.delivery.breaker import CLOSED, CircuitBreaker
from newsalert.schemas import Alert, DeliveryAttempt, Digest
from newsalert.domain.delivery.endpoints import Endpoint
from newsalert.services.notifier.metrics import NotifierMetrics
from newsalert.services.notifier.sender import WebhookSender, attempt_record

log = logging.getLogger(__name__)


class EndpointBreakers:
    """The circuit breakers of every endpoint URL, and attempts made through them."""

    def __init__(self, settings: Settings, sender: WebhookSender, metrics: NotifierMetrics) -> None:
        self._settings = settings
        self._sender = sender
        self._metrics = metrics
        self._breakers: dict[str, CircuitBreaker] = {}

    async def attempt(self, item: Alert | Digest, endpoint: Endpoint, number: int) -> tuple[oc.AttemptOutcome, DeliveryAttempt]:
        """POST once through the endpoint's breaker (or record that it held the POST back)."""
        loop = asyncio.get_running_loop()
        breaker = self.breaker(endpoint)
        before = breaker.state
        if not breaker.allow(loop.time()):
            result = oc.circuit_open((breaker.retry_at() or loop.time()) - loop.time())
            record = attempt_record(item, endpoint, number, result, datetime.now(timezone.utc))
        else:
            was = breaker.state
            result, record = await self._sender.attempt(item, endpoint, number)
            self._metrics.latency.observe(record.latency_ms / 1000)
            if result.delivered:
                breaker.record_success(loop.time())
            else:
                breaker.record_failure(loop.time())
            if breaker.state != was:
                log.warning("circuit breaker of %s (%s): %s -> %s", endpoint.subscriber, endpoint.safe_url, was, breaker.state)
        self._metrics.count_attempt(result.outcome)
        if breaker.state != before:  # counting every breaker per attempt would cost O(endpoints)
            self._metrics.breakers_open.set(sum(b.state != CLOSED for b in self._breakers.values()))
        return result, record

    def breaker(self, endpoint: Endpoint) -> CircuitBreaker:
        """The breaker of the endpoint's URL."""
        breaker = self._breakers.get(endpoint.url)
        if breaker is None:
            breaker = self._breakers[endpoint.url] = CircuitBreaker(self._settings.breaker_threshold, self._settings.breaker_cooldown)
        return breaker
