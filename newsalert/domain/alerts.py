"""Building alerts and digests: their derived ids and the article summary with its excerpt.

The wire models (``newsalert.schemas``) only describe; the values derived from an article, a
rule and a subscriber are computed here, once, for every producer.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from newsalert.domain.delivery.ids import batch_webhook_id, digest_webhook_id, webhook_id
from newsalert.domain.text import strip_markup
from newsalert.schemas._common import utc_now
from newsalert.domain.matching import RuleMatch
from newsalert.schemas.alert import EXCERPT_MAX, HIGHLIGHT_TEXT_MAX, HIGHLIGHTS_MAX, Alert, ArticleSummary, Highlight, RuleRef
from newsalert.schemas.article import Article
from newsalert.schemas.batch import Batch
from newsalert.schemas.digest import Digest


def summarise(article: Article, *, cleaned: bool = False) -> ArticleSummary:
    """The summary of ``article`` an alert carries; the excerpt comes from its cleaned body.
    ``cleaned``: the body is cleaned already (the matcher's articles), so it is not stripped again."""
    return ArticleSummary(
        id=article.id,
        title=article.title,
        url=article.url,
        source=article.source,
        published=article.published,
        language=article.language,
        excerpt=excerpt(article.body, cleaned=cleaned),
    )


def new_alert(
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
    """The alert for ``article`` matching rule ``rule_id`` for ``subscriber``, its id derived."""
    return Alert(
        webhook_id=webhook_id(article.id, rule_id, subscriber),
        article=summarise(article),
        rule=RuleRef(id=rule_id, query=query),
        subscriber=subscriber,
        highlights=(highlights or [])[:HIGHLIGHTS_MAX],
        matched_at=matched_at or utc_now(),
        ruleset_version=ruleset_version,
        ingested_at=ingested_at,
    )


def new_digest(subscriber: str, start: int, end: int, alerts: list[Alert]) -> Digest:
    """The digest of ``alerts`` held from ``start`` to ``end`` (epoch seconds); id derived."""
    return Digest(
        webhook_id=digest_webhook_id(subscriber, start),
        subscriber=subscriber,
        window_start=datetime.fromtimestamp(start, timezone.utc),
        window_end=datetime.fromtimestamp(end, timezone.utc),
        alerts=alerts,
    )


def new_batch(subscriber: str, alerts: list[Alert]) -> Batch:
    """The batch of ``alerts`` (waiting together on the subscriber's lane, in order); id derived."""
    return Batch(webhook_id=batch_webhook_id(subscriber, [a.webhook_id for a in alerts]), subscriber=subscriber, alerts=alerts)


def wire_highlights(match: RuleMatch) -> list[Highlight]:
    """The engine's highlights as wire models, at most ``HIGHLIGHTS_MAX`` (see ``highlight_fields``)."""
    return [Highlight(**fields) for fields in highlight_fields(match)]


def highlight_fields(match: RuleMatch) -> list[dict[str, Any]]:
    """The fields of the wire highlights of ``match``, at most ``HIGHLIGHTS_MAX``, not validated.

    A highlight longer than ``HIGHLIGHT_TEXT_MAX`` (a prefix term such as ``missile*`` matching
    one enormous run of letters) is shortened to its first ``HIGHLIGHT_TEXT_MAX`` characters, end
    moved with it, so ``text`` is still exactly the field's ``[start, end)``.
    """
    out = []
    for h in match.highlights[:HIGHLIGHTS_MAX]:
        text = h.text[:HIGHLIGHT_TEXT_MAX]
        out.append({"field": h.field, "text": text, "start": h.start, "end": h.start + len(text)})
    return out


def excerpt(body: str | None, limit: int = EXCERPT_MAX, *, cleaned: bool = False) -> str:
    """The start of the cleaned ``body`` on one line, at most ``limit`` characters.

    A cut body ends at a word boundary (when one is in the last fifth) followed by ``…``.
    """
    text = _one_line_start(body, limit, cleaned)
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit * 4 // 5:
        cut = cut[:space]
    return cut.rstrip() + "…"


def _one_line_start(body: str | None, limit: int, cleaned: bool = False) -> str:
    """``clean_line(body)``, or a prefix of it longer than ``limit``: all that ``excerpt`` reads.

    Bodies are thousands of characters and an excerpt keeps 500: splitting and joining only the
    words of a slice twice as long as the excerpt (usually enough once whitespace is collapsed)
    instead of the whole body was most of the cost of an article's summary.
    """
    if not body:
        return ""
    # On the whole body: a slice could cut a tag or an entity in two. Cleaned text is not stripped
    # again: that would drop text such as "<script>" and decode "&lt;" a second time.
    text = body if cleaned else strip_markup(body)
    head = text[: 2 * limit]
    if len(head) < len(text):
        # The words of the slice are the body's first words, the last one perhaps cut short, so
        # joining them gives a prefix of ``clean_line(body)``.
        start = " ".join(head.split())
        if len(start) > limit:
            return start
    return " ".join(text.split())  # = clean_line(body)
