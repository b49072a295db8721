"""What one delivery attempt came to, decided from the HTTP status or the kind of failure.

Pure: the notifier maps its HTTP client's answer or exception to a status code or to a
``FailureKind`` and asks here what it means. The outcome names are those of
``newsalert.schemas.delivery.Outcome`` (the attempt record), so the two never drift apart (a unit test
checks it).

Rules (Standard Webhooks / Svix practice):

- success is 2xx only; a redirect is not followed and counts as a failure;
- ``410 Gone`` means the endpoint is gone for good: no further attempt, and the notifier disables
  the subscriber (its later alerts are dead-lettered until ``newsalert deliveries enable``);
- ``429`` and ``503`` carrying ``Retry-After`` are ``rate_limited`` and keep the hint;
- every other status, a timeout and a connection failure are retryable;
- a target refused before connecting (SSRF guard) is ``blocked``: final, retrying cannot help;
- a request the endpoint's circuit breaker held back is ``circuit_open``: not sent, so not an
  attempt; the alert waits ``retry_after`` seconds (until the breaker lets a probe through).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from enum import Enum

DELIVERED = "delivered"
HTTP_ERROR = "http_error"
RATE_LIMITED = "rate_limited"
GONE = "gone"
TIMEOUT = "timeout"
CONNECTION_ERROR = "connection_error"
BLOCKED = "blocked"
CIRCUIT_OPEN = "circuit_open"

OUTCOMES = (DELIVERED, HTTP_ERROR, RATE_LIMITED, GONE, TIMEOUT, CONNECTION_ERROR, BLOCKED, CIRCUIT_OPEN)
"""Every outcome name; equal to the members of ``newsalert.schemas.delivery.Outcome``."""

_RETRY_AFTER_MAX_S = 7 * 24 * 3600.0  # a hint beyond a week is nonsense; ignore the excess


class FailureKind(Enum):
    """Why an attempt got no HTTP answer."""

    TIMEOUT = TIMEOUT
    CONNECTION = CONNECTION_ERROR
    BLOCKED = BLOCKED
    CIRCUIT_OPEN = CIRCUIT_OPEN


@dataclass(frozen=True)
class AttemptOutcome:
    """The meaning of one attempt.

    ``retryable`` is False for success and for final failures. ``retry_after`` is the
    receiver's hint in seconds for ``rate_limited``, and for ``circuit_open`` the seconds until
    the breaker lets a probe through.
    """

    outcome: str
    retryable: bool
    status: int | None = None
    error: str | None = None
    retry_after: float | None = None

    @property
    def delivered(self) -> bool:
        """True when the alert reached the subscriber."""
        return self.outcome == DELIVERED


def from_status(status: int, retry_after: str | None = None, now: datetime | None = None) -> AttemptOutcome:
    """The outcome of an HTTP answer with ``status`` (and its ``Retry-After`` header, if any)."""
    if 200 <= status <= 299:
        return AttemptOutcome(DELIVERED, retryable=False, status=status)
    if status == 410:
        return AttemptOutcome(GONE, retryable=False, status=status, error="410 Gone: the endpoint is gone")
    if status in (429, 503):
        hint = parse_retry_after(retry_after, now) if retry_after else None
        if hint is not None:
            return AttemptOutcome(RATE_LIMITED, retryable=True, status=status, error=f"HTTP {status}", retry_after=hint)
    if 300 <= status <= 399:
        return AttemptOutcome(HTTP_ERROR, retryable=True, status=status, error=f"HTTP {status}: redirects are not followed")
    return AttemptOutcome(HTTP_ERROR, retryable=True, status=status, error=f"HTTP {status}")


def from_failure(kind: FailureKind, detail: str) -> AttemptOutcome:
    """The outcome of an attempt that got no answer, ``detail`` saying what happened."""
    return AttemptOutcome(kind.value, retryable=kind is not FailureKind.BLOCKED, error=detail or kind.value)


def circuit_open(retry_at_in: float | None = None) -> AttemptOutcome:
    """The outcome of a request the endpoint's circuit breaker did not let out (not an attempt:
    the alert waits ``retry_at_in`` seconds for the breaker's next probe, then tries again)."""
    detail = "circuit breaker open: the endpoint failed repeatedly, request not sent (not counted as an attempt)"
    wait = None if retry_at_in is None else max(retry_at_in, 0.0)
    if wait is not None:
        detail += f"; next probe in {wait:.0f} s"
    return AttemptOutcome(CIRCUIT_OPEN, retryable=True, error=detail, retry_after=wait)


def parse_retry_after(value: str, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP-date); None if unusable."""
    text = value.strip()
    if text.isdigit():
        return min(float(text), _RETRY_AFTER_MAX_S)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    return min(max(seconds, 0.0), _RETRY_AFTER_MAX_S)
