"""The matcher's per-record guard (``newsalert.services.matcher.processing``) without a broker.

The subprocess tests (tests/integration/test_matcher.py) show the same behaviour through Kafka;
here the engine can be replaced by one that raises, which no honest input to the real engine does.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from newsalert.domain.delivery.ids import webhook_id
from newsalert.domain.matching import Engine
from newsalert.schemas import Alert, RejectedRecord
from newsalert.schemas.alert import HIGHLIGHT_TEXT_MAX
from tests.unit.plain_rules import Rule
from newsalert.services.matcher.processing import ArticleMatcher, SourcePosition

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


RULES = [
    Rule("nk", '"North Korea" AND missile*', ("asia", "wire")),
    Rule("silent", "missile*", ()),
    Rule("paris", "Paris", ("europe",)),
]


def make_matcher(engine=None, rules=RULES) -> ArticleMatcher:
    return ArticleMatcher(
        engine or Engine(rules), rules, "v-test",
        matches_topic="p-matches", rejected_topic="p-articles.rejected", clock=lambda: NOW,
    )


def pos(offset: int = 7, key: bytes | None = b"a1") -> SourcePosition:
    return SourcePosition("p-articles", 2, offset, key, timestamp_ms=1_714_564_800_000)


def encode(**article) -> bytes:
    return json.dumps(article).encode()


NK = dict(
    id="a1", title="North Korea fires missiles", body="<p>Pyongyang launched two missiles &amp; more.</p>",
    url="https://example.com/a1", source="Wire", published="2024-05-01T10:00:00Z",
)


def test_one_alert_per_rule_and_subscriber_keyed_by_subscriber():
    outcome = make_matcher().process(encode(**NK), pos())
    assert outcome.rejected is None and outcome.article_id == "a1"
    assert [(r.topic, r.key) for r in outcome.records] == [("p-matches", b"asia"), ("p-matches", b"wire")]
    alerts = [Alert.model_validate_json(r.value) for r in outcome.records]
    first = alerts[0]
    assert (first.rule.id, first.rule.query, first.subscriber) == ("nk", RULES[0].query, "asia")
    assert first.webhook_id == webhook_id("a1", "nk", "asia") != alerts[1].webhook_id
    assert first.ruleset_version == "v-test" and first.matched_at == NOW
    assert first.ingested_at == datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
    assert first.article.url == NK["url"] and first.article.source == "Wire"
    # Cleaned text: no tags, entities decoded; highlights point into the cleaned fields.
    assert first.article.excerpt == "Pyongyang launched two missiles & more."
    assert {(h.field, h.text) for h in first.highlights} >= {("title", "North Korea"), ("title", "missiles"), ("body", "missiles")}
    for h in first.highlights:
        source = first.article.title if h.field == "title" else first.article.excerpt
        assert source[h.start:h.end] == h.text


def test_rule_without_subscribers_produces_nothing():
    outcome = make_matcher().process(encode(id="a2", title="A missile test"), pos())
    assert outcome.records == [] and outcome.rejected is None and outcome.alerts == 0


@pytest.mark.parametrize(
    ("raw", "field_in_reason"),
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (encode(title="no id"), "id: Field required"),
        (encode(id="a3", published="yesterday-ish"), "published:"),
        (b"[1, 2]", "<root>"),
        (None, "no value"),
    ],
)
def test_malformed_record_is_dead_lettered_with_the_field_and_position(raw, field_in_reason):
    outcome = make_matcher().process(raw, pos(offset=41, key=b"k9"))
    dead = outcome.rejected
    assert dead is not None and len(outcome.records) == 1
    record = outcome.records[0]
    assert record.topic == "p-articles.rejected"
    assert RejectedRecord.model_validate_json(record.value) == dead
    assert dead.stage == "matcher" and field_in_reason in dead.reason
    assert (dead.topic, dead.partition, dead.offset, dead.key) == ("p-articles", 2, 41, "k9")
    assert dead.payload_size == (0 if raw is None else len(raw))


class ExplodingEngine:
    """Raises for articles whose title contains 'boom', matches nothing otherwise."""

    def __init__(self, inner: Engine) -> None:
        self.inner = inner

    def match(self, doc):
        if "boom" in doc.title.text:
            raise ZeroDivisionError("pathological input")
        return self.inner.match(doc)


def test_exception_while_matching_is_dead_lettered_and_the_next_record_is_processed(caplog):
    matcher = make_matcher(engine=ExplodingEngine(Engine(RULES)))
    bad = matcher.process(encode(id="boom-1", title="boom"), pos(offset=5))
    assert bad.rejected is not None
    assert bad.rejected.error_type == "ZeroDivisionError"
    assert bad.rejected.reason == "matching raised ZeroDivisionError: pathological input"
    assert bad.rejected.record_id == "boom-1" and bad.records[0].key == b"boom-1"
    assert "Traceback" in caplog.text or any(r.exc_info for r in caplog.records)
    good = matcher.process(encode(**NK), pos(offset=6))
    assert good.rejected is None and good.alerts == 2


def test_memory_error_is_not_swallowed():
    class OutOfMemory:
        def match(self, doc):
            raise MemoryError

    with pytest.raises(MemoryError):
        make_matcher(engine=OutOfMemory()).process(encode(**NK), pos())


def test_enormous_highlight_is_shortened_not_dead_lettered():
    word = "missile" + "e" * 2000
    outcome = make_matcher().process(encode(id="a4", title="North Korea", body=word), pos())
    assert outcome.rejected is None and outcome.alerts == 2
    alert = Alert.model_validate_json(outcome.records[0].value)
    body = [h for h in alert.highlights if h.field == "body"]
    assert body and len(body[0].text) == HIGHLIGHT_TEXT_MAX and body[0].end - body[0].start == HIGHLIGHT_TEXT_MAX
