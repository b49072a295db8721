"""``AlertEncoder``: the matcher's alerts as ``Alert.to_json()`` bytes, joined from cached parts.

Byte-identical to the model (``tests/unit/test_alert_encoding.py`` compares them); why it exists
is in ``docs/architecture.md`` (the matcher's hot path).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Annotated, Any

from pydantic import TypeAdapter

from newsalert.domain.delivery.ids import webhook_id
from newsalert.schemas.alert import Alert, ArticleSummary, Highlight, RuleRef

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
