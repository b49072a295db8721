"""``ClaimBatch`` of ``StoryClaim``: alerts' claims on stories, on the compacted ``matches.claims`` topic.

The notifier de-duplicates alerts per (subscriber, rule) on their story fingerprints (see
``newsalert.domain.dedup``). The claims of the alerts it lets through from one fetch of one
``matches`` partition are written as one ``ClaimBatch`` to the partition of ``matches.claims``
with the same number, keyed ``<partition>:<offset of the first claiming alert>``; a notifier
that takes the partition over reads them back before it delivers anything from it. A batch whose
claims have all expired gets a tombstone (no value), so the compacted topic stays bounded.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from newsalert.schemas._common import WIRE_CONFIG, Identifier

DEDUP_HEADER = "newsalert-dedup"
"""Header of an alert record on ``matches``: the JSON list of its article's story fingerprints
(``newsalert.domain.dedup.story_fingerprints``), set by the matcher, read by the notifier."""
FINGERPRINTS_MAX = 8
"""Most fingerprints one claim carries (an article has at most three today)."""
FINGERPRINT_MAX = 2_100
"""Longest fingerprint (``url:`` plus a canonical URL)."""


class StoryClaim(BaseModel):
    """Which story an alert claimed for its (subscriber, rule), when, and by which record."""

    model_config = WIRE_CONFIG

    subscriber: Identifier
    rule: Identifier
    fingerprints: list[str] = Field(min_length=1, max_length=FINGERPRINTS_MAX)
    at: float = Field(ge=0, description="When the claim was made, seconds since the epoch (the alert record's timestamp).")
    by: str = Field(min_length=1, max_length=64, description="The claiming record, as '<matches partition>:<offset>'.")


CLAIMS_PER_BATCH_MAX = 10_000
"""Most claims in one batch record (a fetch brings at most 500 alerts)."""


class ClaimBatch(BaseModel):
    """The claims made from one fetch of one ``matches`` partition: one record for many alerts."""

    model_config = WIRE_CONFIG

    claims: list[StoryClaim] = Field(min_length=1, max_length=CLAIMS_PER_BATCH_MAX)

    def to_json(self) -> bytes:
        """The compact JSON encoding used as the Kafka record value."""
        return self.model_dump_json().encode()
