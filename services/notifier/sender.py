"""HTTP delivery of one alert to one endpoint: one signed POST, and what it came to.

One ``WebhookSender`` per process holds the one shared ``aiohttp.ClientSession`` (connection
pooling, one timeout policy, the SSRF guard's connector). Each attempt is signed afresh (a new
``webhook-timestamp``) over the same body bytes, redirects are not followed, and only a 2xx answer
counts as delivered. The domain decides what an answer means (``outcome``); retries are not made
here: the notifier schedules them through the retry topics (``newsalert.services.notifier.deliver``), so an
attempt never sleeps.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone

import aiohttp

from newsalert.adapters.http_guard import blocked_reason
from newsalert.domain.chat import chat_body
from newsalert.domain.delivery import outcome as oc
from newsalert.domain.delivery.signing import signed_headers
from newsalert.schemas import Alert, Batch, DeliveryAttempt, Digest
from newsalert.schemas.delivery import ERROR_MAX, RESPONSE_BODY_MAX
from newsalert.schemas._common import truncate
from newsalert.domain.delivery.endpoints import Endpoint

log = logging.getLogger(__name__)

USER_AGENT = "newsalert-notifier/0.1 (+Standard Webhooks)"


class WebhookSender:
    """Signed webhook POSTs over one shared session; see the module docstring."""

    def __init__(self, session: aiohttp.ClientSession, max_in_flight: int) -> None:
        self._session = session
        self._in_flight = asyncio.Semaphore(max_in_flight)

    async def attempt(self, alert: Alert | Digest | Batch, endpoint: Endpoint, number: int) -> tuple[oc.AttemptOutcome, DeliveryAttempt]:
        """POST ``alert`` (or a digest or batch) to ``endpoint`` once, as attempt ``number``; never raises
        for what the endpoint or the network does."""
        body = payload_body(alert) if endpoint.format == "standard" else chat_body(endpoint.format, alert)
        headers = signed_headers(endpoint.secrets, alert.webhook_id, body)
        headers.update({"Content-Type": "application/json", "User-Agent": USER_AGENT})
        async with self._in_flight:
            at = datetime.now(timezone.utc)
            started = time.perf_counter()
            response_text = None
            try:
                async with self._session.post(endpoint.url, data=body, headers=headers, allow_redirects=False) as resp:
                    # Only the start of the answer is kept; reading it also frees the connection.
                    response_text = DeliveryAttempt.clip_body(await resp.content.read(RESPONSE_BODY_MAX))
                    result = oc.from_status(resp.status, resp.headers.get("Retry-After"))
            except asyncio.TimeoutError:
                result = oc.from_failure(oc.FailureKind.TIMEOUT, "no complete answer within the timeout")
            except (aiohttp.ClientError, OSError, ValueError) as exc:
                blocked = blocked_reason(exc)  # refused by the SSRF guard: final, nothing was sent
                kind = oc.FailureKind.CONNECTION if blocked is None else oc.FailureKind.BLOCKED
                result = oc.from_failure(kind, blocked or f"{type(exc).__name__}: {exc}")
            latency_ms = (time.perf_counter() - started) * 1000
        return result, attempt_record(alert, endpoint, number, result, at, latency_ms, response_text)


# The fields of an ``Alert`` that its webhook body carries, in the body's order (after ``type``).
_PAYLOAD_FIELDS = ("webhook_id", "article", "rule", "subscriber", "highlights", "matched_at")
_ALERT_BODY_START = b'{"type":"article.matched",'


def payload_body(item: Alert | Digest | Batch) -> bytes:
    """The exact bytes POSTed (and signed) for ``item``: ``item.webhook_payload().to_body()``.

    For an alert, built without the intermediate ``WebhookPayload`` model (a validated copy of the
    whole alert per attempt was a measurable part of the notifier's CPU): the alert is dumped with
    only the payload's fields, which share their types and order, and ``type`` is put first.
    ``tests/unit/test_notifier_sender.py`` checks the bytes are identical to the model's.
    """
    if not isinstance(item, Alert):
        return item.webhook_payload().to_body()
    fields = item.model_dump_json(include=set(_PAYLOAD_FIELDS)).encode()
    return _ALERT_BODY_START + fields[1:]


def attempt_record(
    alert: Alert | Digest | Batch,
    endpoint: Endpoint,
    number: int,
    result: oc.AttemptOutcome,
    at: datetime,
    latency_ms: float = 0.0,
    response_text: str | None = None,
) -> DeliveryAttempt:
    """The ``DeliveryAttempt`` of one attempt (also of one the circuit breaker held back) of an
    alert or a digest (both have a ``webhook_id``).

    A delivered attempt's fields are all known valid (ids of a validated alert and endpoint, a 2xx
    status, a clipped body, an aware UTC time), so its record is built without validating them
    again: one model validation per delivered alert less (``tests/unit/test_notifier_sender.py``
    checks the bytes are the validated model's).
    """
    fields = dict(
        subscriber=endpoint.subscriber,
        webhook_id=alert.webhook_id,
        attempt=number,
        outcome=result.outcome,
        status_code=result.status,
        error=None if result.error is None else truncate(result.error, ERROR_MAX),
        latency_ms=latency_ms,
        response_body=response_text,
        url=endpoint.safe_url,
        at=at,
    )
    if result.delivered and at.tzinfo is timezone.utc and latency_ms >= 0:
        return DeliveryAttempt.model_construct(**fields)
    return DeliveryAttempt(**fields)
