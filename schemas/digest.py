"""Digests: the alerts of one subscriber held back by its rate limit, delivered together.

``Digest`` is the notifier's record of one digest (it travels on the retry topics inside a
``RetryEnvelope`` when its delivery has to be tried again): the subscriber, the window, its
stable ``webhook_id`` and the held alerts in full, so that a digest given up on can be
dead-lettered alert by alert (each then replayable on its own).

``DigestPayload`` is the JSON body POSTed for it (``Digest.webhook_payload()``), documented in
``docs/webhooks.md``: ``type: "digest"``, the window, the count and every alert's usual payload.
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import BaseModel, Field, model_validator

from newsalert.schemas._common import WIRE_CONFIG, Identifier, UtcDatetime
from newsalert.schemas.alert import WEBHOOK_ID_MAX, Alert, WebhookPayload
from newsalert.schemas.formats import DIGEST_ALERTS_MAX

DIGEST_TYPE: Final = "digest"
"""The event type of a digest in the webhook body."""


class DigestPayload(BaseModel):
    """The JSON body POSTed to a subscriber for a digest (see ``docs/webhooks.md``)."""

    model_config = WIRE_CONFIG

    type: Literal["digest"] = DIGEST_TYPE
    webhook_id: str = Field(max_length=WEBHOOK_ID_MAX)
    subscriber: Identifier
    window_start: UtcDatetime = Field(description="When the first alert of the digest was held back.")
    window_end: UtcDatetime = Field(description="End of the digest window (the digest is sent then, or earlier when full).")
    count: int = Field(ge=1, le=DIGEST_ALERTS_MAX, description="Number of alerts listed.")
    alerts: list[WebhookPayload] = Field(min_length=1, max_length=DIGEST_ALERTS_MAX)

    def to_body(self) -> bytes:
        """The exact bytes to sign and send: compact JSON, fields in declaration order."""
        return self.model_dump_json().encode()


class Digest(BaseModel):
    """One digest as the notifier keeps it: window, id and the held alerts (all of ``subscriber``)."""

    model_config = WIRE_CONFIG

    webhook_id: str = Field(max_length=WEBHOOK_ID_MAX)
    subscriber: Identifier
    window_start: UtcDatetime
    window_end: UtcDatetime
    alerts: list[Alert] = Field(min_length=1, max_length=DIGEST_ALERTS_MAX)

    @model_validator(mode="after")
    def _one_subscriber(self) -> Digest:
        """Every alert of a digest is for its subscriber (the key of the records carrying it)."""
        others = {a.subscriber for a in self.alerts} - {self.subscriber}
        if others:
            raise ValueError(f"a digest for {self.subscriber!r} holds alerts for {sorted(others)}")
        return self

    def webhook_payload(self) -> DigestPayload:
        """The body POSTed to the subscriber for this digest."""
        return DigestPayload(
            webhook_id=self.webhook_id,
            subscriber=self.subscriber,
            window_start=self.window_start,
            window_end=self.window_end,
            count=len(self.alerts),
            alerts=[a.webhook_payload() for a in self.alerts],
        )
