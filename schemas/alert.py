"""``Alert``: one match of an article against a rule for a subscriber, on the ``matches`` topic.

The matcher produces one ``Alert`` per (article, rule, subscriber), keyed by the subscriber id so
that one subscriber's alerts keep their order within a partition. The alert carries everything
the notifier needs without looking the article up again: an article summary with a bounded
excerpt, the rule id and query, the highlights, and the stable ``webhook_id``
(``newsalert.domain.delivery.ids.webhook_id``) that receivers de-duplicate on.

``WebhookPayload`` is the JSON body POSTed to the subscriber (``Alert.webhook_payload()``). It is
bounded: an excerpt of the body, never the whole body.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from newsalert.domain.delivery.ids import WEBHOOK_ID_PREFIX, webhook_id
from newsalert.domain.text import clean_text
from schemas._common import WIRE_CONFIG, Identifier, UtcDatetime, utc_now
from schemas.article import LANGUAGE_MAX, SOURCE_MAX, TITLE_MAX, Article

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

ALERT_TYPE = "article.matched"
"""The event type of an alert in the webhook body."""

_WEBHOOK_ID_PATTERN = rf"^{WEBHOOK_ID_PREFIX}[A-Za-z0-9_-]+$"
_WHITESPACE = re.compile(r"\s+")

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

    @classmethod
    def of(cls, article: Article) -> ArticleSummary:
        """The summary of ``article``; the excerpt comes from its cleaned body."""
        return cls(
            id=article.id,
            title=article.title,
            url=article.url,
            source=article.source,
            published=article.published,
            language=article.language,
            excerpt=excerpt(article.body),
        )


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

    ``webhook_id`` may be omitted by a producer: it is then derived from the three ids. A given
    value is kept as is, so a replayed dead letter keeps the id its receivers already saw.
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

    @model_validator(mode="before")
    @classmethod
    def _derive_webhook_id(cls, data: Any) -> Any:
        """Fill a missing ``webhook_id`` from the article, rule and subscriber ids."""
        if not isinstance(data, dict) or data.get("webhook_id") is not None:
            return data
        try:
            article_id = _get(data["article"], "id")
            rule_id = _get(data["rule"], "id")
            derived = webhook_id(article_id, rule_id, data["subscriber"])
        except (AttributeError, KeyError, TypeError, ValueError):
            return data  # the field validators name what is missing or wrong
        return {**data, "webhook_id": derived}

    @classmethod
    def create(
        cls,
        article: Article,
        rule_id: str,
        query: str,
        subscriber: str,
        highlights: list[Highlight] | None = None,
        *,
        ruleset_version: str,
        matched_at: datetime | None = None,
        ingested_at: datetime | None = None,
    ) -> Alert:
        """Build the alert for ``article`` matching rule ``rule_id`` for ``subscriber``."""
        return cls(
            webhook_id=webhook_id(article.id, rule_id, subscriber),
            article=ArticleSummary.of(article),
            rule=RuleRef(id=rule_id, query=query),
            subscriber=subscriber,
            highlights=(highlights or [])[:HIGHLIGHTS_MAX],
            matched_at=matched_at or utc_now(),
            ruleset_version=ruleset_version,
            ingested_at=ingested_at,
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


def excerpt(body: str | None, limit: int = EXCERPT_MAX) -> str:
    """The start of the cleaned ``body`` on one line, at most ``limit`` characters.

    A cut body ends at a word boundary (when one is in the last fifth) followed by ``…``.
    """
    text = _WHITESPACE.sub(" ", clean_text(body)).strip()
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit * 4 // 5:
        cut = cut[:space]
    return cut.rstrip() + "…"


def _get(obj: Any, key: str) -> Any:
    """``obj[key]`` for a dict, ``obj.key`` for a model (a producer may pass either)."""
    return obj[key] if isinstance(obj, dict) else getattr(obj, key)
