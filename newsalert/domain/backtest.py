"""Back-testing a rule: which of a window of recent articles it matches, and how often it would alert.

Matching is the matcher's: the same ``Engine`` on the same cleaned document (``prepare`` with
``cleaned=True``) and the rule's language/source filters (``CompiledRule.accepts``), so what a
back-test shows is what the matcher would have sent. The rate is the number of matching articles
per day over the period the window covers, from the oldest to the newest article time (the
article's ``published`` time, else when the broker received it); each subscriber of the rule
gets one alert per matching article. Below ``MIN_PERIOD_S`` the period is too short for a rate.

Highlighted text is returned as ``Segment`` runs (plain text or a hit), never as markup, so the
page renders untrusted article text through its template's escaping.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from newsalert.domain.matching import Engine, Highlight, prepare
from newsalert.domain.rulefile import CompiledRule
from newsalert.schemas import Article

MIN_PERIOD_S = 3600.0
"""Shortest period (seconds) over which an alerts-per-day rate is estimated."""
SHOWN_MAX = 50
"""Most matches listed (all are counted)."""
SNIPPET_CHARS = 240
"""Length of the body snippet around its first highlight."""


@dataclass(frozen=True, slots=True)
class Segment:
    """A run of text, highlighted or not."""

    text: str
    hit: bool = False


@dataclass(frozen=True)
class WindowArticle:
    """An article of the back-test window (cleaned, as the matcher holds it) and its time."""

    article: Article
    at: datetime


@dataclass(frozen=True)
class BacktestMatch:
    """One matching article: its id, URL, time, and highlighted title and body snippet."""

    article_id: str
    url: str | None
    source: str | None
    at: datetime
    title: list[Segment]
    snippet: list[Segment]


@dataclass(frozen=True)
class Backtest:
    """The result: how many articles were scanned and matched, the newest matches, the rate."""

    scanned: int
    count: int
    matches: list[BacktestMatch] = field(default_factory=list)
    first: datetime | None = None
    last: datetime | None = None
    per_day: float | None = None

    @property
    def period_days(self) -> float:
        """Days between the oldest and the newest article of the window (0 for fewer than two)."""
        return (self.last - self.first).total_seconds() / 86400 if self.first and self.last else 0.0


def backtest(rule: CompiledRule, window: Sequence[WindowArticle], shown_max: int = SHOWN_MAX) -> Backtest:
    """Match ``rule`` against every article of ``window`` (oldest first); the newest matches first."""
    engine = Engine([rule])
    found: list[BacktestMatch] = []
    for item in window:
        article = item.article
        if not rule.accepts(article.language, article.source):
            continue
        doc = prepare(article.title, article.body, article.source, cleaned=True)
        matches = engine.match(doc)
        if matches:
            found.append(_match_of(item, matches[0].highlights))
    times = [item.at for item in window]
    first, last = (min(times), max(times)) if times else (None, None)
    result = Backtest(len(window), len(found), list(reversed(found))[:shown_max], first, last)
    if first is not None and (last - first).total_seconds() >= MIN_PERIOD_S:
        result = Backtest(result.scanned, result.count, result.matches, first, last, len(found) / result.period_days)
    return result


def _match_of(item: WindowArticle, highlights: Iterable[Highlight]) -> BacktestMatch:
    article = item.article
    by_field: dict[str, list[tuple[int, int]]] = {}
    for h in highlights:
        by_field.setdefault(h.field, []).append((h.start, h.end))
    return BacktestMatch(
        article.id, article.url, article.source, item.at,
        segments(article.title or "", by_field.get("title", [])),
        snippet(article.body or "", by_field.get("body", [])),
    )


def segments(text: str, spans: Iterable[tuple[int, int]]) -> list[Segment]:
    """``text`` cut into plain and highlighted runs; overlapping spans are merged."""
    out: list[Segment] = []
    pos = 0
    for start, end in _merged(spans, len(text)):
        if start > pos:
            out.append(Segment(text[pos:start]))
        out.append(Segment(text[start:end], True))
        pos = end
    if pos < len(text):
        out.append(Segment(text[pos:]))
    return out


def snippet(text: str, spans: Iterable[tuple[int, int]], chars: int = SNIPPET_CHARS) -> list[Segment]:
    """About ``chars`` characters of ``text`` around its first span (its start if none), highlighted;
    an ellipsis marks text cut away."""
    merged = _merged(spans, len(text))
    begin = max(0, merged[0][0] - chars // 3) if merged else 0
    end = min(len(text), begin + chars)
    inside = [(max(s, begin) - begin, min(e, end) - begin) for s, e in merged if s < end and e > begin]
    out = segments(text[begin:end], inside)
    if begin > 0:
        out.insert(0, Segment("… "))
    if end < len(text):
        out.append(Segment(" …"))
    return out


def _merged(spans: Iterable[tuple[int, int]], length: int) -> list[tuple[int, int]]:
    """Spans clipped to ``[0, length)``, sorted, overlapping ones joined."""
    out: list[tuple[int, int]] = []
    for start, end in sorted((max(0, s), min(length, e)) for s, e in spans):
        if end <= start:
            continue
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out
