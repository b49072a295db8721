"""Validation and cleaning of one article: the function shared by ingest and replay."""

from __future__ import annotations

import pytest

from newsalert.domain.articles import InvalidArticle, clean_article, parse_article
from newsalert.schemas import ARTICLE_MAX_BYTES, Article


def test_cleaning_removes_scraped_debris_and_decodes_entities():
    article = Article(
        id="a1",
        title="  AT&amp;T \n  buys   <b>Time</b>  ",
        body='< p class="x">North Korea fired a missile.< /p>< p class="x">AT&amp;T said&nbsp;no.< /p>',
    )
    cleaned = clean_article(article)
    assert cleaned.title == "AT&T buys Time"
    assert cleaned.body == "North Korea fired a missile.\n\nAT&T said no."
    assert "class" not in cleaned.body and "<" not in cleaned.body
    assert cleaned.id == "a1"


def test_cleaning_keeps_other_fields_and_maps_empty_text_to_none():
    article = Article(id="a", title="<br>", body="  ", url="https://x.test/a", source="S", metadata={"k": 1})
    cleaned = clean_article(article)
    assert cleaned.title is None and cleaned.body is None
    assert (cleaned.url, cleaned.source, cleaned.metadata) == ("https://x.test/a", "S", {"k": 1})


def test_parse_article_validates_and_cleans():
    article = parse_article({"id": "x", "title": "A &amp; B", "category": "tech"})
    assert article.title == "A & B"
    assert article.metadata == {"category": "tech"}


def test_parse_article_names_every_bad_field():
    with pytest.raises(InvalidArticle) as info:
        parse_article({"id": "x", "title": 5, "published": "yesterday"})
    fields = {p.field for p in info.value.problems}
    assert fields == {"title", "published"}
    assert info.value.record_id == "x"
    assert "title: Input should be a valid string" in str(info.value)


def test_parse_article_refuses_a_non_object():
    with pytest.raises(InvalidArticle) as info:
        parse_article([1, 2])
    assert info.value.record_id is None
    assert info.value.problems[0].field == "<root>"


def test_parse_article_refuses_oversize_records_without_truncating():
    with pytest.raises(InvalidArticle, match="more than the limit"):
        parse_article({"id": "x"}, size=ARTICLE_MAX_BYTES + 1)
