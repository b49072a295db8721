"""Delivery records: ``DeliveryAttempt`` (one POST to a webhook) and ``DeadDelivery``.

The notifier records every attempt, successful or not: who, which alert (``webhook_id``), the
attempt number, the outcome, the HTTP status or the error, the latency and the start of the
response body. After the last attempt, or when the endpoint is gone, the alert goes to
``deliveries.dead`` as a ``DeadDelivery`` carrying the alert itself (so it can be re-sent with
its original ``webhook_id``), its attempts and the last error.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from newsalert.schemas._common import URL_MAX, WIRE_CONFIG, Identifier, UtcDatetime, truncate
from newsalert.schemas.alert import WEBHOOK_ID_MAX, Alert
from newsalert.schemas.batch import Batch
from newsalert.schemas.digest import Digest

RESPONSE_BODY_MAX = 1_024
"""Longest response body kept in an attempt record, in characters."""
ERROR_MAX = 2_000
"""Longest error text in an attempt record, in characters."""
ATTEMPTS_MAX = 100
"""Most attempts a dead delivery carries (the retry schedule has far fewer)."""

Outcome = Literal[
    "delivered",  # 2xx
    "http_error",  # any other status: 3xx (redirects are not followed), 4xx, 5xx
    "rate_limited",  # 429 or 503 with Retry-After
    "gone",  # 410: the subscriber is disabled
    "timeout",  # no complete answer within the timeout
    "connection_error",  # refused, reset, DNS failure, TLS failure
    "blocked",  # refused by the SSRF guard before connecting
    "circuit_open",  # not sent: the endpoint's circuit breaker is open
]
"""What one attempt came to."""

DeadReason = Literal["exhausted", "gone", "blocked", "invalid", "disabled"]
"""Why an alert was given up: retries used up, endpoint gone (410), target refused (SSRF guard),
unusable alert, subscriber disabled (by an earlier 410) when the alert came."""


class DeliveryAttempt(BaseModel):
    """One attempt at POSTing one alert to one subscriber."""

    model_config = WIRE_CONFIG

    subscriber: Identifier
    webhook_id: str = Field(min_length=1, max_length=WEBHOOK_ID_MAX)
    attempt: int = Field(ge=1, description="1 for the first try, then 2, 3, ... A circuit_open record is not a "
                         "try: it carries the number of the attempt that waits for the breaker.")
    outcome: Outcome
    status_code: int | None = Field(None, ge=100, le=599, description="HTTP status, when an answer came.")
    error: str | None = Field(None, max_length=ERROR_MAX, description="What went wrong, when it did.")
    latency_ms: float = Field(ge=0, description="From sending the request to the end of the answer or error.")
    response_body: str | None = Field(None, max_length=RESPONSE_BODY_MAX, description="Start of the answer body.")
    url: str | None = Field(None, max_length=URL_MAX)
    at: UtcDatetime
    next_attempt_at: UtcDatetime | None = Field(None, description="When the next attempt is due; null if none.")

    @staticmethod
    def clip_body(body: str | bytes | None) -> str | None:
        """A response body cut to ``RESPONSE_BODY_MAX`` characters (bad UTF-8 replaced)."""
        if body is None:
            return None
        text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
        return truncate(text, RESPONSE_BODY_MAX)

    def to_json(self) -> bytes:
        """The compact JSON encoding of the record."""
        return self.model_dump_json().encode()


class DeadDelivery(BaseModel):
    """An alert given up on, with every attempt and the last error, for inspection and replay."""

    model_config = WIRE_CONFIG

    alert: Alert
    reason: DeadReason
    attempts: list[DeliveryAttempt] = Field(default_factory=list, max_length=ATTEMPTS_MAX)
    last_error: str = Field(min_length=1, max_length=ERROR_MAX)
    dead_at: UtcDatetime

    def to_json(self) -> bytes:
        """The compact JSON encoding used as the Kafka record value."""
        return self.model_dump_json().encode()


class RetryEnvelope(BaseModel):
    """An alert (or a digest) waiting for its next attempt, on a ``deliveries.retry.<tier>`` topic
    (key: subscriber).

    Exactly one of ``alert``, ``digest`` and ``batch`` is set. ``attempt`` is the number of the attempt to
    make at ``due_at``; ``attempts`` are the ones made so far (they go into the dead letter if this
    alert, or each alert of this digest, is given up).
    """

    model_config = WIRE_CONFIG

    alert: Alert | None = None
    digest: Digest | None = None
    batch: Batch | None = None
    attempt: int = Field(ge=1, le=ATTEMPTS_MAX, description="Number of the attempt to make when due (1 when the "
                         "first one was held back by the circuit breaker).")
    due_at: UtcDatetime
    last_error: str = Field(min_length=1, max_length=ERROR_MAX)
    attempts: list[DeliveryAttempt] = Field(default_factory=list, max_length=ATTEMPTS_MAX)

    @model_validator(mode="after")
    def _one_payload(self) -> RetryEnvelope:
        """An envelope carries one alert, one digest or one batch: exactly one of them."""
        if sum(x is not None for x in (self.alert, self.digest, self.batch)) != 1:
            raise ValueError("a retry envelope carries exactly one of alert, digest and batch")
        return self

    def to_json(self) -> bytes:
        """The compact JSON encoding used as the Kafka record value."""
        return self.model_dump_json().encode()


SubscriberStatus = Literal["enabled", "disabled"]


class SubscriberState(BaseModel):
    """The delivery state of a subscriber on the compacted ``deliveries.subscribers`` topic.

    The notifier writes ``disabled`` when an endpoint answers 410 Gone; ``newsalert deliveries
    enable`` writes ``enabled``. The latest record per subscriber (the key) wins.
    """

    model_config = WIRE_CONFIG

    subscriber: Identifier
    status: SubscriberStatus
    reason: str = Field(min_length=1, max_length=ERROR_MAX)
    webhook_id: str | None = Field(None, max_length=WEBHOOK_ID_MAX, description="The alert whose answer changed the state.")
    at: UtcDatetime

    def to_json(self) -> bytes:
        """The compact JSON encoding used as the Kafka record value."""
        return self.model_dump_json().encode()
