"""``RejectedRecord``: a dead letter on ``articles.rejected`` or ``matches.rejected``.

Whatever a stage cannot process (a malformed record, a record whose matching raised, an alert
the notifier cannot read) is written here with the reason and the original payload, then the
stage moves on: nothing is dropped silently. The payload is kept as text (undecodable bytes
replaced) and bounded; ``payload_size`` and ``payload_truncated`` say how much was cut.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from newsalert.schemas._common import WIRE_CONFIG, UtcDatetime, truncate, utc_now

REASON_MAX = 2_000
"""Longest reason text, in characters."""
ERROR_TYPE_MAX = 200
"""Longest error type name."""
REJECTED_PAYLOAD_MAX = 100_000
"""Longest original payload kept in a dead letter, in characters."""

Stage = Literal["ingest", "matcher", "notifier"]


class RejectedRecord(BaseModel):
    """A record a stage refused, with why, what it was and where it came from."""

    model_config = WIRE_CONFIG

    stage: Stage
    reason: str = Field(min_length=1, max_length=REASON_MAX, description="Human-readable cause, naming the field.")
    error_type: str = Field(min_length=1, max_length=ERROR_TYPE_MAX, description="Exception class or error code.")
    payload: str | None = Field(None, max_length=REJECTED_PAYLOAD_MAX, description="The original record as text.")
    payload_size: int = Field(0, ge=0, description="Size of the original record in bytes.")
    payload_truncated: bool = False
    record_id: str | None = Field(None, max_length=REASON_MAX, description="Article id or webhook id, if known.")
    topic: str | None = Field(None, max_length=255)
    partition: int | None = Field(None, ge=0)
    offset: int | None = Field(None, ge=0)
    key: str | None = Field(None, max_length=1_000)
    at: UtcDatetime

    @classmethod
    def of(
        cls,
        stage: Stage,
        error: BaseException | str,
        payload: bytes | str | None,
        *,
        record_id: str | None = None,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
        key: bytes | str | None = None,
        at: datetime | None = None,
    ) -> RejectedRecord:
        """A dead letter for ``payload`` refused by ``stage`` because of ``error``.

        ``error`` is an exception (its class name becomes ``error_type``) or a plain reason.
        """
        text, size = _as_text(payload)
        kept = None if text is None else truncate(text, REJECTED_PAYLOAD_MAX)
        reason = str(error) or type(error).__name__
        return cls(
            stage=stage,
            reason=truncate(reason, REASON_MAX),
            error_type=type(error).__name__ if isinstance(error, BaseException) else "Rejected",
            payload=kept,
            payload_size=size,
            payload_truncated=text is not None and kept != text,
            record_id=None if record_id is None else truncate(record_id, REASON_MAX),
            topic=topic,
            partition=partition,
            offset=offset,
            key=None if key is None else truncate(_as_text(key)[0] or "", 1_000),
            at=at or utc_now(),
        )

    def to_json(self) -> bytes:
        """The compact JSON encoding used as the Kafka record value."""
        return self.model_dump_json().encode()


def _as_text(payload: bytes | str | None) -> tuple[str | None, int]:
    """The payload as text (bad UTF-8 replaced) and its size in bytes."""
    if payload is None:
        return None, 0
    if isinstance(payload, str):
        return payload, len(payload.encode("utf-8", errors="replace"))
    return bytes(payload).decode("utf-8", errors="replace"), len(payload)
