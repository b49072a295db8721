"""The matcher's fast alert records are byte for byte those of the straightforward construction.

``ArticleMatcher.process`` encodes alerts with ``newsalert.services.matcher.encoding.AlertEncoder`` (parts validated and
encoded once per article, rule or subscriber). The reference here is the plain way: one pydantic
``Alert`` per alert (``ArticleMatcher.alerts_for``), ``Alert.to_json()`` as the value, the
subscriber as the key and the story fingerprints header computed from the article. Any
difference in a value, a key, a header, the order or the number of records fails.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import newsalert.services.matcher.encoding as encoding_module
from newsalert.adapters.broker import Record
from newsalert.domain.articles import InvalidArticle, parse_article
from newsalert.domain.dedup import story_fingerprints
from newsalert.domain.matching import Engine
from newsalert.schemas import Alert
from newsalert.schemas.alert import HIGHLIGHT_TEXT_MAX, HIGHLIGHTS_MAX
from newsalert.services.matcher.encoding import AlertEncoder
from newsalert.schemas.dedup import DEDUP_HEADER
from tests.unit.plain_rules import Rule
from newsalert.domain.articles import decode_article
from newsalert.services.matcher.processing import ArticleMatcher, SourcePosition

BBC = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "bbc.jsonl"
NOW = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)


# Rule shapes people write (phrases, wildcards, NEAR, NOT, fields), subscriber and rule ids that
# need JSON escaping or are not ASCII, several subscribers per rule, a rule notifying nobody.
RULES = [
    Rule("gov", "government", ("s-1",)),
    Rule("pm", '"prime minister"', ("s-1", "s-2", 'quote"back\\slash')),
    Rule("règle-é", "minister* OR elect*", ("ünïcödé-sub", "s-2")),
    Rule("film", "film NEAR/5 award*", ("s-3",)),
    Rule("eng", "england AND NOT football", ("s-3",)),
    Rule("title", "title:election OR title:economy", ("s-1",)),
    Rule("src", "source:wire", ("s-4",)),
    Rule("silent", "year", ()),
    Rule("nk", '"North Korea" AND missile*', ("asia", "wire")),
    Rule("big", "missile* OR korea", ("s-5",)),
    Rule("emoji", "zelensky OR strasse OR 東京", ("😀-sub",)),
]


def make_matcher(*, dedup: bool = True, clock=lambda: NOW, rules=RULES, version: str = "v-test") -> ArticleMatcher:
    return ArticleMatcher(
        Engine(rules), rules, version,
        matches_topic="p-matches", rejected_topic="p-articles.rejected", clock=clock, dedup=dedup,
    )


def pos(offset: int = 7, timestamp_ms: int | None = 1_714_564_800_123) -> SourcePosition:
    return SourcePosition("p-articles", 2, offset, b"k", timestamp_ms=timestamp_ms)


def reference_records(matcher: ArticleMatcher, raw: bytes, position: SourcePosition) -> list[Record]:
    """What ``process`` must publish, built the plain way: a pydantic ``Alert`` per alert."""
    article = decode_article(raw)
    ingested = None if position.timestamp_ms is None else datetime.fromtimestamp(position.timestamp_ms / 1000, tz=timezone.utc)
    alerts = matcher.alerts_for(article, ingested)
    headers: tuple = ()
    if matcher.dedup and alerts:
        prints = story_fingerprints(article.id, article.url, article.title, article.body)
        headers = ((DEDUP_HEADER, json.dumps(prints).encode()),)
    return [Record(matcher.matches_topic, a.to_json(), key=a.subscriber.encode(), headers=headers) for a in alerts]


def assert_same_records(matcher: ArticleMatcher, raw: bytes, position: SourcePosition) -> list[Record]:
    outcome = matcher.process(raw, position)
    assert outcome.rejected is None, outcome.rejected
    expected = reference_records(matcher, raw, position)
    assert [(r.topic, r.key, r.headers, r.value) for r in outcome.records] == [
        (r.topic, r.key, r.headers, r.value) for r in expected
    ]
    return outcome.records


def ingested(**fields) -> bytes:
    """An article record as ingest publishes it: validated, cleaned, encoded."""
    return parse_article(fields).to_json()


@pytest.mark.corpus
@pytest.mark.parametrize("dedup", [True, False])
def test_same_bytes_as_pydantic_alerts_on_bbc_articles(dedup):
    if not BBC.exists():
        pytest.skip(f"corpus not found at {BBC} (see ../shared/README.md)")
    matcher = make_matcher(dedup=dedup)
    compared = subscribers = 0
    with BBC.open(encoding="utf-8") as handle:
        for i, line in enumerate(list(handle)[:300]):
            try:
                article = parse_article(json.loads(line))
            except InvalidArticle:
                continue
            raw = article.model_copy(update={"id": f"bbc-{i}"}).to_json()
            records = assert_same_records(matcher, raw, pos(offset=i))
            compared += len(records)
            subscribers += len({r.key for r in records}) > 1
    # Not a vacuous pass: many alerts, and articles with alerts for several subscribers.
    assert compared > 300 and subscribers > 20, (compared, subscribers)


def test_long_highlight_is_cut_and_identical():
    word = "missile" + "x" * (3 * HIGHLIGHT_TEXT_MAX)
    records = assert_same_records(make_matcher(), ingested(id="long-1", title="North Korea", body=word), pos())
    value = json.loads(records[0].value)
    assert len(value["highlights"][-1]["text"]) == HIGHLIGHT_TEXT_MAX


def test_more_highlights_than_an_alert_carries():
    body = " ".join(["korea"] * (HIGHLIGHTS_MAX + 50))
    records = assert_same_records(make_matcher(), ingested(id="many-1", title="Korea", body=body), pos())
    assert {len(json.loads(r.value)["highlights"]) for r in records} == {HIGHLIGHTS_MAX}


def test_article_without_body_title_or_url():
    assert_same_records(make_matcher(), ingested(id="bare-1", source="Wire"), pos())
    assert_same_records(make_matcher(), ingested(id="bare-2", title="North Korea missile test"), pos())


def test_unicode_escapes_and_markup():
    raw = ingested(
        id="ü-1 \"quoted\" \\ id",
        title='Zélensky à Strasse — «Straße» 😀 "quotes" \\ </script> \u2028 東京',
        body="<p>東京 and Zelensky &amp;lt;b&amp;gt; North\u00a0Korea missiles</p>\n\n<p>Zweiter Absatz "
        + "ünïcödé " * 200 + "</p>",
        url="https://example.com/ü?q=1&utm_source=x#frag",
        source="Wire ✓",
        published="2024-05-01T10:00:00+02:00",
        language="de-CH",
        metadata={"author": "Zoë", "tags": ["a", "b"]},
        category="extra key into metadata",
    )
    records = assert_same_records(make_matcher(), raw, pos())
    assert {r.key.decode() for r in records} >= {"😀-sub", "asia", "wire"}


def test_timestamps_normalised_or_missing_as_in_the_model():
    # A clock in another zone (the Alert converts to UTC) and a record without a timestamp.
    local = timezone(timedelta(hours=2))
    matcher = make_matcher(clock=lambda: datetime(2024, 5, 1, 14, 0, tzinfo=local), version="vérsion ✓")
    raw = ingested(id="t-1", title="Government minister", published="2024-05-01 08:00:00")
    assert_same_records(matcher, raw, pos(timestamp_ms=None))
    assert_same_records(matcher, raw, pos(timestamp_ms=0))


def test_no_match_no_records():
    assert make_matcher().process(ingested(id="none-1", title="Nothing to see"), pos()).records == []


@pytest.mark.parametrize(
    ("rules", "version"),
    [
        ([Rule("r1", "korea", ("   ",))], "v"),  # blank subscriber id
        ([Rule("r1", "korea", ("bad\x01id",))], "v"),  # control character in the subscriber id
        ([Rule("r1", "korea", ("s",))], ""),  # empty rule-set version
        ([Rule("r1", "korea OR " + "z" * 10_000, ("s",))], "v"),  # query longer than an alert carries
    ],
)
def test_what_the_model_refuses_is_dead_lettered_with_the_models_error(rules, version):
    matcher = make_matcher(rules=rules, version=version)
    raw = ingested(id="bad-1", title="Korea")
    with pytest.raises(Exception) as raised:  # the plain construction's error, as before
        matcher.alerts_for(decode_article(raw), None)
    outcome = matcher.process(raw, pos())
    assert outcome.records[0].topic == "p-articles.rejected"
    assert outcome.rejected.error_type == type(raised.value).__name__
    assert outcome.rejected.reason == f"matching raised {type(raised.value).__name__}: {raised.value}"[: len(outcome.rejected.reason)]


def test_encoder_refuses_an_alert_whose_fields_it_does_not_write(monkeypatch):
    monkeypatch.setattr(encoding_module, "_ALERT_FIELDS", tuple(Alert.model_fields)[::-1])
    with pytest.raises(TypeError):
        AlertEncoder()
