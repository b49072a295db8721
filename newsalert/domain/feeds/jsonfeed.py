"""JSON Feed 1.0 and 1.1 (https://jsonfeed.org/version/1.1) read into ``ParsedFeed``.

Only the mapping onto the shape feedparser gives for XML feeds: ``id`` is the guid, ``url`` the
link, ``content_html`` (else ``content_text``, else ``summary``) the body, ``date_published``
(else ``date_modified``) the time; ``language`` (1.1) on the item or the feed. A document that is
not JSON or not a JSON Feed object is a parse problem with no entries; an item that is not an
object is skipped and named in the problem.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from newsalert.domain.feeds.parsed import FeedEntry, ParsedFeed

VERSION_PREFIX = "https://jsonfeed.org/version/"


def looks_like_json_feed(body: bytes) -> bool:
    """True for a body that starts (after whitespace) with ``{`` and names a JSON Feed version."""
    head = body[:512].lstrip()
    return head.startswith(b"{") and b"jsonfeed.org/version" in body[:4096]


def parse_json_feed(body: bytes) -> ParsedFeed:
    """The feed and its items; never raises on bad input (the problem is in ``ParsedFeed.problem``)."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        return ParsedFeed(None, None, [], f"not JSON: {exc}")
    if not isinstance(doc, dict) or not str(doc.get("version", "")).startswith(VERSION_PREFIX):
        return ParsedFeed(None, None, [], f"not a JSON Feed: no 'version' starting with {VERSION_PREFIX}")
    items = doc.get("items")
    if not isinstance(items, list):
        return ParsedFeed(_text(doc.get("title")), _text(doc.get("language")), [], "JSON Feed without an 'items' list")
    entries = [_item(item) for item in items if isinstance(item, dict)]
    skipped = len(items) - len(entries)
    problem = f"{skipped} item(s) are not JSON objects" if skipped else None
    return ParsedFeed(_text(doc.get("title")), _text(doc.get("language")), entries, problem)


def _item(item: dict) -> FeedEntry:
    body = item.get("content_html") or item.get("content_text") or item.get("summary")
    return FeedEntry(
        guid=_text(item.get("id")),
        link=_text(item.get("url")) or _text(item.get("external_url")),
        title=_text(item.get("title")),
        body=_text(body),
        published=_date(item.get("date_published") or item.get("date_modified")),
        language=_text(item.get("language")),
    )


def _text(value: Any) -> str | None:
    """A non-empty string (ids may be numbers in 1.0 feeds seen in the wild), else None."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    return value if isinstance(value, str) and value.strip() else None


def _date(value: Any) -> datetime | None:
    """An RFC 3339 date as an aware UTC datetime; None when missing or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=parsed.tzinfo or timezone.utc).astimezone(timezone.utc)
