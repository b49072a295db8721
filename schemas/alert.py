"""``Alert``: one match of an article against a rule for a subscriber, on the ``matches`` topic.

The matcher produces one ``Alert`` per (article, rule, subscriber), keyed by the subscriber id so
that one subscriber's alerts keep their order within a partition. The alert carries everything
the notifier needs without looking the article up again: an article summary with a bounded
excerpt, the rule id and query, the highlights, and the stable ``webhook_id``
(derived in ``newsalert.domain.delivery.ids``) that receivers de-duplicate on.

``WebhookPayload`` is the JSON body POSTed to the subscriber (``Alert.webhook_payload()``). It is
bounded: an excerpt of the body, never the whole body.
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import BaseModel, Field, model_validator

from newsalert.schemas._common import WIRE_CONFIG, Identifier, UtcDatetime
from newsalert.schemas.article import LANGUAGE_MAX, SOURCE_MAX, TITLE_MAX

EXCERPT_MAX = 500
"""Longest excerpt of the cleaned body carried by an alert, in characters (ellipsis included)."""
QUERY_MAX = 10_000
"""Longest rule query carried by an alert, in characters."""
HIGHLIGHTS_MAX = 200
"""Most highlights per alert; the matcher keeps the first ones in field order."""
HIGHLIGHT_TEXT_MAX = 500
"""Longest highlighted text, in characters."""
RULESET_VERSION_MAX = 128
"""Longest rule-set version string."""
WEBHOOK_ID_MAX = 64
"""Longest webhook id."""
WEBHOOK_ID_PREFIX = "msg_"
"""Every webhook id starts with this (``newsalert.domain.delivery.ids`` derives the rest)."""

ALERT_TYPE: Final = "article.matched"
"""The event type of an alert in the webhook body."""

_WEBHOOK_ID_PATTERN = rf"^{WEBHOOK_ID_PREFIX}[A-Za-z0-9_-]+$"

HighlightField = Literal["title", "body", "source"]


class Highlight(BaseModel):
    """A matched word or phrase: ``text`` spans ``[start, end)`` of the cleaned ``field`` text."""

    model_config = WIRE_CONFIG

    field: HighlightField
    text: str = Field(min_length=1, max_length=HIGHLIGHT_TEXT_MAX)
    start: int = Field(ge=0)
    end: int = Field(ge=0)

    @model_validator(mode="after")
    def _span_ordered(self) -> Highlight:
        """``end`` must not come before ``start``."""
        if self.end < self.start:
            raise ValueError(f"highlight end {self.end} is before its start {self.start}")
        return self


class ArticleSummary(BaseModel):
    """The article fields a subscriber needs, with a bounded excerpt instead of the body."""

    model_config = WIRE_CONFIG

    id: Identifier
    title: str | None = Field(None, max_length=TITLE_MAX)
    url: str | None = None
    source: str | None = Field(None, max_length=SOURCE_MAX)
    published: UtcDatetime | None = None
    language: str | None = Field(None, max_length=LANGUAGE_MAX)
    excerpt: str = Field("", max_length=EXCERPT_MAX, description="Start of the cleaned body.")


class RuleRef(BaseModel):
    """The rule that matched: its id and its query as written in the rule file."""

    model_config = WIRE_CONFIG

    id: Identifier
    query: str = Field(min_length=1, max_length=QUERY_MAX)


class WebhookPayload(BaseModel):
    """The JSON body POSTed to a subscriber's webhook (see ``docs/webhooks.md``)."""

    model_config = WIRE_CONFIG

    type: Literal["article.matched"] = ALERT_TYPE
    webhook_id: str = Field(max_length=WEBHOOK_ID_MAX, pattern=_WEBHOOK_ID_PATTERN)
    article: ArticleSummary
    rule: RuleRef
    subscriber: Identifier
    highlights: list[Highlight] = Field(default_factory=list, max_length=HIGHLIGHTS_MAX)
    matched_at: UtcDatetime

    def to_body(self) -> bytes:
        """The exact bytes to sign and send: compact JSON, fields in declaration order."""
        return self.model_dump_json().encode()


class Alert(BaseModel):
    """One (article, rule, subscriber) match on the ``matches`` topic (key: subscriber id).

    ``webhook_id`` is derived by the producer (``newsalert.domain.alerts.new_alert``) and kept as
    is afterwards, so a replayed dead letter keeps the id its receivers already saw.
    """

    model_config = WIRE_CONFIG

    webhook_id: str = Field(max_length=WEBHOOK_ID_MAX, pattern=_WEBHOOK_ID_PATTERN)
    article: ArticleSummary
    rule: RuleRef
    subscriber: Identifier
    highlights: list[Highlight] = Field(default_factory=list, max_length=HIGHLIGHTS_MAX)
    matched_at: UtcDatetime
    ruleset_version: str = Field(min_length=1, max_length=RULESET_VERSION_MAX)
    ingested_at: UtcDatetime | None = Field(
        None, description="When ingest accepted the article (for end-to-end latency); null if unknown."
    )

    def webhook_payload(self) -> WebhookPayload:
        """The body POSTed to the subscriber for this alert."""
        return WebhookPayload(
            webhook_id=self.webhook_id,
            article=self.article,
            rule=self.rule,
            subscriber=self.subscriber,
            highlights=self.highlights,
            matched_at=self.matched_at,
        )

    def to_json(self) -> bytes:
        """The compact JSON encoding used as the Kafka record value."""
        return self.model_dump_json().encode()


MatchMessage = Alert
"""Alias: the message on the ``matches`` topic."""
