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

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, TypeAdapter, model_validator

from newsalert.domain.delivery.ids import WEBHOOK_ID_PREFIX, webhook_id
from newsalert.domain.text import strip_markup
from newsalert.schemas._common import WIRE_CONFIG, Identifier, UtcDatetime, utc_now
from newsalert.schemas.article import LANGUAGE_MAX, SOURCE_MAX, TITLE_MAX, Article

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

_ALERT_FIELDS = ("webhook_id", "article", "rule", "subscriber", "highlights", "matched_at", "ruleset_version", "ingested_at")
"""``Alert``'s fields in declaration order: the order ``model_dump_json`` writes them, and
``AlertEncoder`` too."""


class AlertEncoder:
    """``Alert(...).to_json()`` for the alerts of a rule set, without one ``Alert`` model per alert.

    The matcher writes one alert per (article, matching rule, subscriber). The alerts of one
    article share its summary and timestamps, the alerts of one rule its ``RuleRef`` and
    highlights: validating and serialising each of these once, then joining the bytes in field
    order, replaces a model validation and a full serialisation per alert (the larger part of
    the matcher's per-alert cost). The bytes are the model's: every part is validated as its
    ``Alert`` field validates it (the nested model, or a ``TypeAdapter`` of the field's own
    declaration) and serialised by pydantic; ``tests/unit/test_alert_encoding.py`` compares them.

    Parts that depend only on the rule set (rule, subscriber, version) are cached once they
    passed. The one part not validated again is ``webhook_id``: the encoder derives it itself
    with ``webhook_id()``, whose output always fits the field (``msg_`` and 32 base32 letters).

    A part that fails raises pydantic's ``ValidationError`` for that part alone, not the
    ``Alert``'s: a caller reporting the error builds the ``Alert`` to get its message.
    """

    def __init__(self) -> None:
        if tuple(Alert.model_fields) != _ALERT_FIELDS:
            raise TypeError(f"AlertEncoder writes the fields {_ALERT_FIELDS}, Alert has {tuple(Alert.model_fields)}")
        self._versions: dict[str, bytes] = {}
        self._rules: dict[tuple[str, str], bytes] = {}
        self._subscribers: dict[str, bytes] = {}

    def article(
        self, summary: ArticleSummary, matched_at: datetime, ingested_at: datetime | None, ruleset_version: str
    ) -> ArticleAlerts:
        """The encoder of the alerts of one article; ``summary`` is a validated model."""
        if not isinstance(summary, ArticleSummary):
            raise TypeError(f"summary must be an ArticleSummary, not {type(summary).__name__}")
        head = b',"article":' + ArticleSummary.__pydantic_serializer__.to_json(summary) + b',"rule":'
        tail = b"".join((
            b',"matched_at":', _encode_field("matched_at", matched_at),
            b',"ruleset_version":', self._version(ruleset_version),
            b',"ingested_at":', _encode_field("ingested_at", ingested_at),
            b"}",
        ))
        return ArticleAlerts(self, summary.id, head, tail)

    def rule(self, rule_id: str, query: str) -> bytes:
        """The ``rule`` field: a ``RuleRef``, validated and encoded once per rule."""
        key = (rule_id, query)
        found = self._rules.get(key)
        if found is None:
            found = self._rules[key] = RuleRef.__pydantic_serializer__.to_json(RuleRef(id=rule_id, query=query))
        return found

    def subscriber(self, subscriber: str) -> bytes:
        """The ``subscriber`` field, validated and encoded once per subscriber."""
        found = self._subscribers.get(subscriber)
        if found is None:
            found = self._subscribers[subscriber] = _encode_field("subscriber", subscriber)
        return found

    def _version(self, ruleset_version: str) -> bytes:
        found = self._versions.get(ruleset_version)
        if found is None:
            found = self._versions[ruleset_version] = _encode_field("ruleset_version", ruleset_version)
        return found


class ArticleAlerts:
    """The alerts of one article (``AlertEncoder.article``): only rule and subscriber vary."""

    __slots__ = ("_encoder", "_article_id", "_head", "_tail")

    def __init__(self, encoder: AlertEncoder, article_id: str, head: bytes, tail: bytes) -> None:
        self._encoder = encoder
        self._article_id = article_id
        self._head = head  # from the end of webhook_id to the start of rule
        self._tail = tail  # from the end of highlights to the end of the alert

    def encode(
        self, rule_id: str, query: str, highlights: Sequence[Highlight | dict[str, Any]], subscribers: Sequence[str]
    ) -> list[bytes]:
        """``Alert.to_json()`` of this article's alert for rule ``rule_id``, one per subscriber.

        ``highlights`` are models or their fields, validated here as the ``Alert`` validates them.
        """
        encoder = self._encoder
        rule = encoder.rule(rule_id, query)
        marks = _encode_field("highlights", highlights)
        return [
            b"".join((
                # webhook_id() output is ASCII letters, digits and "_": nothing to escape in JSON.
                b'{"webhook_id":"', webhook_id(self._article_id, rule_id, subscriber).encode(), b'"',
                self._head, rule, b',"subscriber":', encoder.subscriber(subscriber), b',"highlights":', marks, self._tail,
            ))
            for subscriber in subscribers
        ]


@cache
def _field_adapter(name: str) -> TypeAdapter[Any]:
    """Validation and serialisation of ``Alert`` field ``name`` on its own, from its declaration."""
    info = Alert.model_fields[name]
    return TypeAdapter(Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation)


def _encode_field(name: str, value: Any) -> bytes:
    """``value`` validated as ``Alert`` field ``name`` (normalised as the model would), as JSON."""
    adapter = _field_adapter(name)
    return adapter.dump_json(adapter.validate_python(value))


def excerpt(body: str | None, limit: int = EXCERPT_MAX) -> str:
    """The start of the cleaned ``body`` on one line, at most ``limit`` characters.

    A cut body ends at a word boundary (when one is in the last fifth) followed by ``…``.
    """
    text = _one_line_start(body, limit)
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit * 4 // 5:
        cut = cut[:space]
    return cut.rstrip() + "…"


def _one_line_start(body: str | None, limit: int) -> str:
    """``clean_line(body)``, or a prefix of it longer than ``limit``: all that ``excerpt`` reads.

    Bodies are thousands of characters and an excerpt keeps 500: splitting and joining only the
    words of a slice twice as long as the excerpt (usually enough once whitespace is collapsed)
    instead of the whole body was most of the cost of an article's summary.
    """
    if not body:
        return ""
    text = strip_markup(body)  # on the whole body: a slice could cut a tag or an entity in two
    head = text[: 2 * limit]
    if len(head) < len(text):
        # The words of the slice are the body's first words, the last one perhaps cut short, so
        # joining them gives a prefix of ``clean_line(body)``.
        start = " ".join(head.split())
        if len(start) > limit:
            return start
    return " ".join(text.split())  # = clean_line(body)


def _get(obj: Any, key: str) -> Any:
    """``obj[key]`` for a dict, ``obj.key`` for a model (a producer may pass either)."""
    return obj[key] if isinstance(obj, dict) else getattr(obj, key)
