"""What every chat format shows of an alert, format-neutral: text runs marked bold or plain.

``Run`` sequences keep the untrusted text apart from the markup, so each format escapes the text
of a run and adds its own bold markers around the highlighted ones. Highlights are placed by their
offsets in the cleaned title and body (the excerpt is the body's start); one whose offsets do not
fit the text shown is left out of the inline bolding but still listed in ``terms``.
"""

from __future__ import annotations

from dataclasses import dataclass

from newsalert.schemas import Alert

Run = tuple[str, bool]
"""A piece of text and whether it is highlighted."""


@dataclass(frozen=True)
class AlertView:
    """An alert as chat messages show it."""

    title: tuple[Run, ...]
    excerpt: tuple[Run, ...]
    url: str | None
    source: str | None
    published: str | None
    rule_id: str
    query: str
    terms: tuple[str, ...]


def view_of(alert: Alert) -> AlertView:
    """The chat view of ``alert``."""
    article = alert.article
    title = article.title or article.id
    return AlertView(
        title=runs(title, [(h.start, h.end) for h in alert.highlights if h.field == "title"] if article.title else []),
        excerpt=runs(article.excerpt, [(h.start, h.end) for h in alert.highlights if h.field == "body"]),
        url=article.url,
        source=article.source,
        published=article.published.strftime("%Y-%m-%d %H:%M UTC") if article.published else None,
        rule_id=alert.rule.id,
        query=alert.rule.query,
        terms=tuple(dict.fromkeys(h.text.lower() for h in alert.highlights)),
    )


def runs(text: str, spans: list[tuple[int, int]]) -> tuple[Run, ...]:
    """``text`` cut into plain and highlighted runs; spans outside it or overlapping are skipped."""
    out: list[Run] = []
    at = 0
    for start, end in sorted(spans):
        if start < at or end > len(text) or start >= end:
            continue
        if start > at:
            out.append((text[at:start], False))
        out.append((text[start:end], True))
        at = end
    if at < len(text):
        out.append((text[at:], False))
    return tuple(out)


def plain(pieces: tuple[Run, ...]) -> str:
    """The text of runs without any marking."""
    return "".join(text for text, _ in pieces)


def clip(pieces: tuple[Run, ...], limit: int) -> tuple[Run, ...]:
    """The runs cut to at most ``limit`` characters of text, an ellipsis marking a cut."""
    if len(plain(pieces)) <= limit:
        return pieces
    out: list[Run] = []
    left = limit - 1
    for text, bold in pieces:
        if left <= 0:
            break
        out.append((text[:left], bold))
        left -= len(text[:left])
    out.append(("…", False))
    return tuple(out)
