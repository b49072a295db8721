"""Article text is cleaned once, where it enters (ingest, replay, feeds), not again by the matcher:
entity-encoded markup stays text (``&amp;lt;img&amp;gt;`` -> ``&lt;img&gt;``) and a body that
talks about ``<script>`` keeps it in the excerpt. Records without the producer's
``newsalert-cleaned`` header (another producer on ``articles``) are still cleaned by the matcher.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import faust.types.tuples as faust_tuples

from newsalert.services.ingest.batch import parse_body
from newsalert.services.matcher.app import position_of
from newsalert.services.matcher.processing import ArticleMatcher
from newsalert.domain.matching import Engine
from newsalert.schemas.article import CLEANED_HEADERS
from tests.unit.plain_rules import Rule

RAW = {"id": "c-1", "title": "Why &amp;lt;img&amp;gt; tags break feeds",
       "body": "<p>Never paste &lt;script&gt; into a page.</p>", "url": "https://news.example/c-1"}
RULES = [Rule("r1", "feeds OR paste", ("desk",))]


def alert_of(value: bytes, headers) -> dict:
    matcher = ArticleMatcher(Engine(RULES), RULES, "v1", matches_topic="m", rejected_topic="r",
                             clock=lambda: datetime(2024, 5, 1, tzinfo=timezone.utc))
    message = faust_tuples.Message("articles", 0, 1, 1_714_564_800.0, 0, headers, b"c-1", value, None)
    records = matcher.process(value, position_of(message)).records
    assert [r.topic for r in records] == ["m"], records
    return json.loads(records[0].value)["article"]


def test_an_article_cleaned_at_ingest_is_not_cleaned_again_by_the_matcher() -> None:
    (article,) = parse_body(json.dumps(RAW).encode(), "application/json", 10).articles
    assert article.title == "Why &lt;img&gt; tags break feeds" and article.body == "Never paste <script> into a page."
    alert = alert_of(article.to_json(), list(CLEANED_HEADERS))
    assert alert["title"] == "Why &lt;img&gt; tags break feeds"
    assert alert["excerpt"] == "Never paste <script> into a page."


def test_a_record_from_another_producer_is_still_cleaned() -> None:
    alert = alert_of(json.dumps(RAW).encode(), [])
    assert alert["title"] == "Why &lt;img&gt; tags break feeds"
    assert alert["excerpt"] == "Never paste <script> into a page."
    # Cleaned text without the header is cleaned a second time (what the header avoids).
    (article,) = parse_body(json.dumps(RAW).encode(), "application/json", 10).articles
    assert "<script>" not in alert_of(article.to_json(), None)["excerpt"]


def test_ingest_marks_its_records_cleaned() -> None:
    from newsalert.config import Settings
    from newsalert.services.ingest.app import _records

    batch = parse_body(json.dumps([RAW, {"id": 5}]).encode(), "application/json", 10)
    articles, dead = _records(Settings(topic_prefix="p-"), batch)
    assert articles.topic == "p-articles" and articles.headers == CLEANED_HEADERS
    assert dead.topic == "p-articles.rejected" and not dead.headers
