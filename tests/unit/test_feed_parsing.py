"""Feed documents to articles, pure: RSS 2.0, Atom and JSON Feed 1.0/1.1 read into entries, stable
ids, text cleaned, source and language chosen as documented, malformed XML read as far as it goes."""

from __future__ import annotations

import json

from newsalert.domain.feeds.articles import article_id, entry_article
from newsalert.domain.feeds.parsed import FeedEntry, parse_feed
from newsalert.schemas.feeds import FeedSpec
from tests import feed_documents as docs

SPEC = FeedSpec(id="world", url="https://news.example.org/feed")


def test_rss_entries_and_feed_language() -> None:
    entries = docs.items(3)
    parsed = parse_feed(docs.rss(entries), "application/rss+xml")
    assert parsed.problem is None
    assert parsed.title == "Example World" and parsed.language == "en-gb"
    assert [e.guid for e in parsed.entries] == [e["guid"] for e in entries]
    first = entry_article(SPEC, parsed, parsed.entries[0])
    assert first.title == entries[0]["title"]
    assert first.url == entries[0]["link"]
    assert first.source == "Example World" and first.language == "en-gb"
    assert first.published == entries[0]["published"]
    assert first.metadata == {"feed": "world"}


def test_rss_dc_language_when_no_language_element() -> None:
    parsed = parse_feed(docs.rss(docs.items(1), language=None, dc_language="pt-BR"))
    assert entry_article(SPEC, parsed, parsed.entries[0]).language == "pt-BR"


def test_atom_xml_lang_of_feed_and_entry() -> None:
    parsed = parse_feed(docs.atom(docs.items(2), lang="fr", entry_lang={1: "es"}))
    languages = [entry_article(SPEC, parsed, e).language for e in parsed.entries]
    assert languages == ["fr", "es"]
    # html summary: tags are cleaned away like ingest does
    assert "<p>" not in (entry_article(SPEC, parsed, parsed.entries[0]).body or "")


def test_file_language_and_source_win() -> None:
    spec = FeedSpec(id="world", url="https://news.example.org/feed", language="en", source="AFP")
    parsed = parse_feed(docs.atom(docs.items(1), lang="fr"))
    article = entry_article(spec, parsed, parsed.entries[0])
    assert (article.language, article.source) == ("en", "AFP")


def test_json_feed_1_1_and_1_0() -> None:
    entries = docs.items(2)
    for version in ("1.1", "1"):
        parsed = parse_feed(docs.json_feed(entries, version=version), "application/feed+json")
        assert parsed.problem is None
        article = entry_article(SPEC, parsed, parsed.entries[1])
        assert article.url == entries[1]["link"]
        assert article.language == "de" and article.source == "Example JSON"
        assert article.published == entries[1]["published"]


def test_json_feed_sniffed_without_content_type_and_item_language() -> None:
    doc = json.loads(docs.json_feed(docs.items(1)))
    doc["items"][0]["language"] = "it"
    doc["items"].append("not an item")
    parsed = parse_feed(json.dumps(doc).encode(), "text/plain")
    assert len(parsed.entries) == 1 and "1 item(s)" in parsed.problem
    assert entry_article(SPEC, parsed, parsed.entries[0]).language == "it"


def test_not_a_feed() -> None:
    for body, kind in ((b"{oops", "application/json"), (b'{"version": "x"}', "application/json")):
        parsed = parse_feed(body, kind)
        assert parsed.entries == [] and parsed.problem


def test_malformed_xml_keeps_the_entries_before_the_break() -> None:
    good = docs.rss(docs.items(3)).decode()
    broken = good.replace("</item><item>", "</item><item><title>unclosed & bad</item><item>", 1)
    parsed = parse_feed(broken.encode())
    assert parsed.problem
    assert parsed.entries and parsed.entries[0].guid == "urn:test:000_55da5f90b11d3137"


def test_ids_are_stable_and_per_feed() -> None:
    entry = FeedEntry("urn:x", "https://e.org/a", "t", None, None, None)
    same = FeedEntry("urn:x", "https://e.org/other", "changed", "b", None, None)
    assert article_id("a", entry) == article_id("a", same)
    assert article_id("a", entry) != article_id("b", entry)
    link_only = FeedEntry(None, "https://e.org/a", None, None, None, None)
    assert article_id("a", link_only) != article_id("a", entry)
    assert article_id("a", FeedEntry(None, None, "t", None, None, None)) is None


def test_invalid_language_is_dropped() -> None:
    entry = FeedEntry("g", None, "t", None, None, "English (UK)")
    parsed = parse_feed(docs.rss([], language=None))
    assert entry_article(SPEC, parsed, entry).language is None


def test_rss_1_0_rdf_and_rss_0_91() -> None:
    rdf = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="https://e.org/"><title>RDF wire</title><link>https://e.org/</link><description>d</description><dc:language>nl</dc:language></channel>
  <item rdf:about="https://e.org/1"><title>Korea North missiles</title><link>https://e.org/1</link><description>Missiles &amp;amp; more</description><dc:date>2026-12-01T10:00:00Z</dc:date></item>
</rdf:RDF>"""
    parsed = parse_feed(rdf)
    article = entry_article(SPEC, parsed, parsed.entries[0])
    assert (article.title, article.url, article.language, article.source) == ("Korea North missiles", "https://e.org/1", "nl", "RDF wire")
    assert article.body == "Missiles & more" and article.published.isoformat() == "2026-12-01T10:00:00+00:00"
    old = b"""<?xml version="1.0"?><rss version="0.91"><channel><title>Old wire</title><link>https://e.org/</link>
<description>d</description><language>en-us</language><item><title>Only a link</title><link>https://e.org/old</link></item></channel></rss>"""
    parsed = parse_feed(old)
    article = entry_article(SPEC, parsed, parsed.entries[0])
    assert (article.url, article.language, article.id) == ("https://e.org/old", "en-us", article_id("world", parsed.entries[0]))
