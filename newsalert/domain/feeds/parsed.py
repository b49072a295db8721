"""A fetched feed document as plain data: ``ParsedFeed`` of ``FeedEntry``, whatever its format.

``parse_feed`` hands RSS 0.9x/1.0/2.0 and Atom to feedparser (given bytes, it never fetches
anything). feedparser's released versions (6.0.x) have no JSON Feed parser, so a JSON Feed
(1.0 or 1.1, recognised by its ``version`` URL) is read by ``newsalert.domain.feeds.jsonfeed``
into the same shape. Malformed XML that feedparser still read in part ("bozo") keeps every entry
it got, with the problem in ``ParsedFeed.problem``.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import feedparser

JSON_FEED_TYPES = ("application/feed+json", "application/json")


@dataclass(frozen=True)
class FeedEntry:
    """One entry, before it becomes an article: everything optional but at least one of guid/link."""

    guid: str | None
    link: str | None
    title: str | None
    body: str | None
    published: datetime | None
    language: str | None


@dataclass(frozen=True)
class ParsedFeed:
    """The feed's title and language, its entries in document order, and a parse problem if any."""

    title: str | None
    language: str | None
    entries: list[FeedEntry] = field(default_factory=list)
    problem: str | None = None


def parse_feed(body: bytes, content_type: str = "") -> ParsedFeed:
    """The entries of a feed document (``content_type`` picks JSON Feed; XML is sniffed)."""
    from newsalert.domain.feeds.jsonfeed import looks_like_json_feed, parse_json_feed

    if content_type.split(";")[0].strip().lower() in JSON_FEED_TYPES or looks_like_json_feed(body):
        return parse_json_feed(body)
    return _from_feedparser(feedparser.parse(body, response_headers={"content-type": content_type or "application/xml"}))


def _from_feedparser(result: Any) -> ParsedFeed:
    feed = result.get("feed", {})
    problem = None
    if result.get("bozo"):
        problem = f"{type(result.get('bozo_exception')).__name__}: {result.get('bozo_exception')}"
        if not result.get("entries") and not feed.get("title"):
            return ParsedFeed(None, None, [], problem)
    entries = [_entry(e) for e in result.get("entries", [])]
    return ParsedFeed(feed.get("title") or None, feed.get("language") or None, entries, problem)


def _entry(entry: Any) -> FeedEntry:
    content = entry.get("content") or []
    body = content[0].get("value") if content else None
    return FeedEntry(
        guid=entry.get("id") or None,
        link=entry.get("link") or None,
        title=entry.get("title") or None,
        body=body or entry.get("summary") or None,
        published=_time(entry.get("published_parsed") or entry.get("updated_parsed")),
        language=_entry_language(entry, content),
    )


def _entry_language(entry: Any, content: list) -> str | None:
    """The entry's own language: xml:lang on its content, summary or title (feedparser's details)."""
    for detail in (*content, entry.get("summary_detail"), entry.get("title_detail")):
        if detail and detail.get("language"):
            return detail["language"]
    return entry.get("language") or None


def _time(parsed: Any) -> datetime | None:
    """feedparser's UTC ``struct_time`` as an aware datetime."""
    if not parsed:
        return None
    return datetime.fromtimestamp(calendar.timegm(parsed), timezone.utc)
