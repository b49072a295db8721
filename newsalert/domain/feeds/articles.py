"""From a feed entry to the article published on ``articles``: stable id, text, source, language.

The id is ``<feed id>-<24 hex of sha256(feed id, guid or link)>``: the same entry gets the same id
on every poll, after a restart and on any replica, and two feeds carrying one guid do not collide.
An entry with neither guid nor link has no stable identity and is not published. Title and body
are cleaned as ingest cleans them (``parse_article``); ``source`` is the file's, else the feed's
title; ``language`` the file's, else the entry's, else the feed's, kept only when it is a valid tag.
"""

from __future__ import annotations

import hashlib
import re

from newsalert.domain.articles import parse_article
from newsalert.domain.feeds.parsed import FeedEntry, ParsedFeed
from newsalert.schemas import Article
from newsalert.schemas.article import LANGUAGE_MAX, SOURCE_MAX, _LANGUAGE_PATTERN
from newsalert.schemas.feeds import FeedSpec

_LANGUAGE = re.compile(_LANGUAGE_PATTERN)


def entry_key(entry: FeedEntry) -> str | None:
    """What identifies the entry in its feed: the guid, else the link."""
    return entry.guid or entry.link


def article_id(feed_id: str, entry: FeedEntry) -> str | None:
    """The stable article id of ``entry`` in feed ``feed_id`` (None without guid and link)."""
    key = entry_key(entry)
    if key is None:
        return None
    digest = hashlib.sha256(f"{feed_id}\0{key}".encode()).hexdigest()[:24]
    return f"{feed_id}-{digest}"


def entry_article(spec: FeedSpec, feed: ParsedFeed, entry: FeedEntry, body: str | None = None) -> Article:
    """The cleaned article of ``entry``; ``body`` replaces the entry's (full text). Raises
    ``InvalidArticle`` when the result is not a valid article (a title above the limit, ...)."""
    value = {
        "id": article_id(spec.id, entry),
        "title": entry.title,
        "body": body if body is not None else entry.body,
        "url": entry.link,
        "source": spec.source or _bounded(feed.title, SOURCE_MAX),
        "published": entry.published.isoformat() if entry.published else None,
        "language": spec.language or language_of(entry, feed),
        "metadata": {"feed": spec.id},
    }
    return parse_article(value)


def language_of(entry: FeedEntry, feed: ParsedFeed) -> str | None:
    """The entry's language, else the feed's, if it is a usable tag (``en-us``, ``fr``)."""
    for tag in (entry.language, feed.language):
        if tag and len(tag) <= LANGUAGE_MAX and _LANGUAGE.match(tag.strip()):
            return tag.strip()
    return None


def _bounded(text: str | None, limit: int) -> str | None:
    """``text`` stripped and cut to ``limit`` characters (a feed title is a label, not content)."""
    if not text or not text.strip():
        return None
    return " ".join(text.split())[:limit]
