"""Back-testing a rule on a window of articles: the matcher's engine, highlighted runs, the rate."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from newsalert.domain.articles import parse_article
from newsalert.domain.backtest import Segment, WindowArticle, backtest, segments, snippet
from newsalert.domain.rulefile import compile_rule
from newsalert.schemas.rules import Rule

T0 = datetime(2024, 3, 1, tzinfo=timezone.utc)


def _window(*items: tuple[str, str, int]) -> list[WindowArticle]:
    return [WindowArticle(parse_article({"id": f"a{i}", "title": title, "body": body}), T0 + timedelta(hours=hours))
            for i, (title, body, hours) in enumerate(items)]


def test_segments_mark_merged_spans_and_keep_all_text() -> None:
    out = segments("North Korea fires missiles", [(0, 5), (6, 11), (3, 8), (18, 26)])
    assert out == [Segment("North Korea", True), Segment(" fires "), Segment("missiles", True)]
    assert "".join(s.text for s in out) == "North Korea fires missiles"
    assert segments("abc", []) == [Segment("abc")]


def test_snippet_is_cut_around_the_first_hit_with_ellipses() -> None:
    text = "x" * 300 + " missile " + "y" * 300
    out = snippet(text, [(301, 308)], chars=60)
    assert out[0] == Segment("… ") and out[-1] == Segment(" …")
    assert Segment("missile", True) in out
    assert len("".join(s.text for s in out)) < 70


def test_backtest_counts_matches_newest_first_with_a_daily_rate() -> None:
    rule = compile_rule(Rule(id="t", query='"North Korea" AND missile*'))
    window = _window(
        ("North Korea fires missiles", "Launched at dawn.", 0),
        ("Weather", "Sunny, no missile in sight.", 12),
        ("Talks", "North Korea said the missile was a test.", 48),
    )
    result = backtest(rule, window)
    assert (result.scanned, result.count) == (3, 2)
    assert [m.article_id for m in result.matches] == ["a2", "a0"]
    assert Segment("North Korea", True) in result.matches[1].title
    assert result.per_day == 1.0  # two matches over two days


def test_no_rate_over_less_than_an_hour() -> None:
    rule = compile_rule(Rule(id="t", query="missile"))
    result = backtest(rule, _window(("missile", "", 0), ("missile", "", 0)))
    assert result.count == 2 and result.per_day is None
