"""Real-shaped feed documents for tests: RSS 2.0, Atom 1.0 and JSON Feed 1.1 built from articles
(the seed article, records of the BBC corpus read from /work/shared/data), escaped as real feeds are."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

REPO = Path(__file__).resolve().parents[1]
SEED = REPO / "seeds" / "articles" / "000_55da5f90b11d3137.json"
BBC = REPO.parent.parent / "shared" / "data" / "bbc.jsonl"
if not BBC.is_file():
    BBC = Path("/work/shared/data/bbc.jsonl")
BASE_TIME = datetime(2026, 11, 30, 8, 0, tzinfo=timezone.utc)


def seed_article() -> dict:
    return json.loads(SEED.read_text(encoding="utf-8"))


def bbc_articles(count: int) -> list[dict]:
    out = []
    with BBC.open(encoding="utf-8") as lines:
        for line in lines:
            out.append(json.loads(line))
            if len(out) == count:
                break
    return out


def items(count: int, base_url: str = "https://news.example.org") -> list[dict]:
    """``count`` entries: the seed article first, then BBC articles; each with guid, link and time."""
    articles = [seed_article(), *bbc_articles(count - 1)][:count]
    return [
        {"guid": f"urn:test:{a['id']}", "link": f"{base_url}/a/{a['id']}", "title": a["title"],
         "summary": a["body"][:600], "published": BASE_TIME + timedelta(minutes=i)}
        for i, a in enumerate(articles)
    ]


def rss(entries: list[dict], title: str = "Example World", language: str | None = "en-gb", dc_language: str | None = None) -> bytes:
    lang = f"<language>{language}</language>" if language else ""
    dc = f"<dc:language>{dc_language}</dc:language>" if dc_language else ""
    body = "".join(
        f"<item><title>{escape(e['title'])}</title><link>{escape(e['link'])}</link>"
        f"<guid isPermaLink=\"false\">{escape(e['guid'])}</guid><description>{escape(e['summary'])}</description>"
        f"<pubDate>{format_datetime(e['published'])}</pubDate></item>"
        for e in entries
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<channel><title>{escape(title)}</title><link>https://news.example.org/</link>"
        f"<description>test feed</description>{lang}{dc}{body}</channel></rss>"
    ).encode()


def atom(entries: list[dict], title: str = "Example Atom", lang: str | None = "fr", entry_lang: dict[int, str] | None = None) -> bytes:
    feed_lang = f' xml:lang="{lang}"' if lang else ""
    parts = []
    for i, e in enumerate(entries):
        el = f' xml:lang="{entry_lang[i]}"' if entry_lang and i in entry_lang else ""
        parts.append(
            f"<entry{el}><id>{escape(e['guid'])}</id><title>{escape(e['title'])}</title>"
            f"<link rel=\"alternate\" href=\"{escape(e['link'])}\"/><updated>{e['published'].isoformat()}</updated>"
            f"<summary type=\"html\">{escape('<p>' + e['summary'] + '</p>')}</summary></entry>"
        )
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom"{feed_lang}>'
        f"<title>{escape(title)}</title><id>urn:test:feed</id><updated>{BASE_TIME.isoformat()}</updated>"
        f"{''.join(parts)}</feed>"
    ).encode()


def json_feed(entries: list[dict], title: str = "Example JSON", language: str | None = "de", version: str = "1.1") -> bytes:
    doc = {
        "version": f"https://jsonfeed.org/version/{version}", "title": title, "home_page_url": "https://news.example.org/",
        "items": [
            {"id": e["guid"], "url": e["link"], "title": e["title"], "content_html": f"<p>{e['summary']}</p>",
            "date_published": e["published"].isoformat().replace("+00:00", "Z")}
            for e in entries
        ],
    }
    if language:
        doc["language"] = language
    return json.dumps(doc).encode()
