"""Batches: several waiting alerts of one subscriber delivered in one signed POST (``batch_max``).

``Batch`` is the notifier's record of one batch (it travels on the retry topics inside a
``RetryEnvelope`` when its delivery has to be tried again): the subscriber, its ``webhook_id``
(derived from the ids of the alerts it carries) and the alerts in full, so that a batch given up
on can be dead-lettered alert by alert (each then replayable on its own).

``BatchPayload`` is the JSON body POSTed for it (``Batch.webhook_payload()``), documented in
``docs/webhooks.md``: ``type: "batch"``, the count and every alert's usual payload, in order.
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import BaseModel, Field, model_validator

from newsalert.schemas._common import WIRE_CONFIG, Identifier
from newsalert.schemas.alert import WEBHOOK_ID_MAX, Alert, WebhookPayload
from newsalert.schemas.formats import BATCH_MAX_MAX

BATCH_TYPE: Final = "batch"
"""The event type of a batch in the webhook body."""


class BatchPayload(BaseModel):
    """The JSON body POSTed to a subscriber for a batch (see ``docs/webhooks.md``)."""

    model_config = WIRE_CONFIG

    type: Literal["batch"] = BATCH_TYPE
    webhook_id: str = Field(max_length=WEBHOOK_ID_MAX)
    subscriber: Identifier
    count: int = Field(ge=2, le=BATCH_MAX_MAX, description="Number of alerts listed.")
    alerts: list[WebhookPayload] = Field(min_length=2, max_length=BATCH_MAX_MAX)

    def to_body(self) -> bytes:
        """The exact bytes to sign and send: compact JSON, fields in declaration order."""
        return self.model_dump_json().encode()


class Batch(BaseModel):
    """One batch as the notifier keeps it: id and the alerts (all of ``subscriber``), in order."""

    model_config = WIRE_CONFIG

    webhook_id: str = Field(max_length=WEBHOOK_ID_MAX)
    subscriber: Identifier
    alerts: list[Alert] = Field(min_length=2, max_length=BATCH_MAX_MAX)

    @model_validator(mode="after")
    def _one_subscriber(self) -> Batch:
        """Every alert of a batch is for its subscriber (the key of the records carrying it)."""
        others = {a.subscriber for a in self.alerts} - {self.subscriber}
        if others:
            raise ValueError(f"a batch for {self.subscriber!r} holds alerts for {sorted(others)}")
        return self

    def webhook_payload(self) -> BatchPayload:
        """The body POSTed to the subscriber for this batch."""
        return BatchPayload(webhook_id=self.webhook_id, subscriber=self.subscriber, count=len(self.alerts),
                            alerts=[a.webhook_payload() for a in self.alerts])
