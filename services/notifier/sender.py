"""HTTP delivery of one alert to one endpoint: signed POSTs, the outcome of each, retries.

One ``WebhookSender`` per process holds the one shared ``aiohttp.ClientSession`` (connection
pooling, one timeout policy). Each attempt is signed afresh (a new ``webhook-timestamp``) over the
same body bytes, redirects are not followed, and only a 2xx answer counts as delivered. The
domain decides what an answer means (``outcome``) and when to try again (``RetryPolicy``).

Retries here sleep in the calling task, which holds up only that subscriber's lane, not the
consumer loop nor other subscribers. The delivery issue moves them to retry topics.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import aiohttp

from newsalert.domain.delivery import outcome as oc
from newsalert.domain.delivery.retry import RetryPolicy
from newsalert.domain.delivery.signing import signed_headers
from schemas import Alert, DeliveryAttempt
from schemas.delivery import ERROR_MAX, RESPONSE_BODY_MAX
from schemas._common import truncate
from services.notifier.endpoints import Endpoint

log = logging.getLogger(__name__)

USER_AGENT = "newsalert-notifier/0.1 (+Standard Webhooks)"


@dataclass
class DeliveryReport:
    """What became of one alert: every attempt, and the final outcome."""

    alert: Alert
    endpoint: Endpoint
    attempts: list[DeliveryAttempt] = field(default_factory=list)
    final: oc.AttemptOutcome | None = None

    @property
    def delivered(self) -> bool:
        return self.final is not None and self.final.delivered


class WebhookSender:
    """Signed webhook POSTs over one shared session; see the module docstring."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        policy: RetryPolicy,
        max_in_flight: int,
        rng: random.Random | None = None,
    ) -> None:
        self._session = session
        self._policy = policy
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._rng = rng or random.Random()

    async def deliver(self, alert: Alert, endpoint: Endpoint, stopping: asyncio.Event | None = None) -> DeliveryReport:
        """Attempt delivery until it succeeds, fails for good or the retry schedule is used up.

        When ``stopping`` is set during a wait between retries, the wait ends early and the
        report has no final outcome: the alert is then not settled (it is redone after restart).
        """
        body = alert.webhook_payload().to_body()
        report = DeliveryReport(alert, endpoint)
        attempt = 1
        while True:
            result, record = await self._attempt(alert, endpoint, body, attempt)
            delay = self._policy.next_delay(attempt, result, self._rng)
            if delay is not None:
                record = record.model_copy(update={"next_attempt_at": record.at + timedelta(seconds=delay)})
            report.attempts.append(record)
            if delay is None:
                report.final = result
                return report
            log.warning(
                "delivery of %s to %s (%s) attempt %d/%d failed: %s; retrying in %.1f s",
                alert.webhook_id, endpoint.subscriber, endpoint.safe_url, attempt,
                self._policy.max_attempts, result.error, delay,
            )
            if await _interrupted(delay, stopping):
                return report
            attempt += 1

    async def _attempt(self, alert: Alert, endpoint: Endpoint, body: bytes, attempt: int) -> tuple[oc.AttemptOutcome, DeliveryAttempt]:
        """One signed POST; never raises for what the endpoint or the network does."""
        headers = signed_headers(endpoint.secrets, alert.webhook_id, body)
        headers.update({"Content-Type": "application/json", "User-Agent": USER_AGENT})
        at = datetime.now(timezone.utc)
        started = time.perf_counter()
        response_text = None
        async with self._in_flight:
            try:
                async with self._session.post(endpoint.url, data=body, headers=headers, allow_redirects=False) as resp:
                    # Only the start of the answer is kept; reading it also frees the connection.
                    response_text = DeliveryAttempt.clip_body(await resp.content.read(RESPONSE_BODY_MAX))
                    result = oc.from_status(resp.status, resp.headers.get("Retry-After"))
            except asyncio.TimeoutError:
                result = oc.from_failure(oc.FailureKind.TIMEOUT, "no complete answer within the timeout")
            except (aiohttp.ClientError, OSError, ValueError) as exc:
                result = oc.from_failure(oc.FailureKind.CONNECTION, f"{type(exc).__name__}: {exc}")
        latency_ms = (time.perf_counter() - started) * 1000
        record = DeliveryAttempt(
            subscriber=endpoint.subscriber,
            webhook_id=alert.webhook_id,
            attempt=attempt,
            outcome=result.outcome,
            status_code=result.status,
            error=None if result.error is None else truncate(result.error, ERROR_MAX),
            latency_ms=latency_ms,
            response_body=response_text,
            url=endpoint.safe_url,
            at=at,
        )
        return result, record


async def _interrupted(delay: float, stopping: asyncio.Event | None) -> bool:
    """Sleep ``delay`` seconds; True if ``stopping`` was set first."""
    if stopping is None:
        await asyncio.sleep(delay)
        return False
    try:
        await asyncio.wait_for(stopping.wait(), timeout=delay)
    except asyncio.TimeoutError:
        return False
    return True
