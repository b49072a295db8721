"""One attempt through its endpoint's circuit breaker (one breaker per URL).

Subscribers sharing a URL share its health. While a breaker holds requests back, nothing is sent:
a ``circuit_open`` record says how long the alert waits for the breaker's next probe (when the
probe is out, at most the webhook timeout), and the alert then makes the same attempt again (see
``newsalert.domain.delivery.retry``).

Each URL also has an ``OutageReport``: one WARNING when its requests start failing, a summary per
``NEWSALERT_OUTAGE_SUMMARY_INTERVAL`` while they keep failing, one when one succeeds again, so an
endpoint that is down with thousands of alerts queued costs a few log lines, not one per retry.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone

from newsalert.adapters.outage import OutageReport
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
        self._reports: dict[str, OutageReport] = {}

    async def attempt(self, item: Alert | Digest, endpoint: Endpoint, number: int) -> tuple[oc.AttemptOutcome, DeliveryAttempt]:
        """POST once through the endpoint's breaker (or record that it held the POST back)."""
        loop = asyncio.get_running_loop()
        breaker = self.breaker(endpoint)
        before = breaker.state
        if not breaker.allow(loop.time()):
            probe_at = breaker.retry_at()  # None: half-open, the probe is out and answers within the timeout
            result = oc.circuit_open(probe_at - loop.time() if probe_at is not None else self._settings.webhook_timeout)
            record = attempt_record(item, endpoint, number, result, datetime.now(timezone.utc))
        else:
            was = breaker.state
            result, record = await self._sender.attempt(item, endpoint, number)
            self._metrics.latency.observe(record.latency_ms / 1000)
            if result.delivered:
                breaker.record_success(loop.time())
                self.report(endpoint).succeeded()
            else:
                breaker.record_failure(loop.time())
                self.report(endpoint).failed(result.error or result.outcome)
            if breaker.state != was:
                log.warning("circuit breaker of %s (%s): %s -> %s", endpoint.subscriber, endpoint.safe_url, was, breaker.state)
        self._metrics.count_attempt(result.outcome)
        if breaker.state != before:  # counting every breaker per attempt would cost O(endpoints)
            self._metrics.breakers_open.set(sum(b.state != CLOSED for b in self._breakers.values()))
        return result, record

    def report(self, endpoint: Endpoint) -> OutageReport:
        """The outage report of the endpoint's URL."""
        report = self._reports.get(endpoint.url)
        if report is None:
            report = self._reports[endpoint.url] = OutageReport(
                f"webhook endpoint {endpoint.safe_url} (subscriber {endpoint.subscriber})", log,
                self._settings.outage_summary_interval, down="failing", up="answering 2xx again")
        return report

    def breaker(self, endpoint: Endpoint) -> CircuitBreaker:
        """The breaker of the endpoint's URL."""
        breaker = self._breakers.get(endpoint.url)
        if breaker is None:
            breaker = self._breakers[endpoint.url] = CircuitBreaker(
                self._settings.breaker_threshold, self._settings.breaker_cooldown,
                max(self._settings.breaker_cooldown_max, self._settings.breaker_cooldown))
        return breaker
