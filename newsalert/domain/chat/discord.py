"""Discord webhook messages: ``content`` plus one entry in ``embeds``, mentions switched off.

Discord reads markdown in ``content``, embed titles, descriptions and field values; it honours a
backslash before any punctuation, so every markdown character from an article is escaped that way
(``\\ * _ ~ ` | > < # - [ ] ( ) : @``, and ``1.`` at a line start). ``allowed_mentions`` with an
empty ``parse`` list makes sure no ``@everyone`` or user mention in an article pings anyone.
Discord's limits (content 2,000; title 256; description 4,096; field value 1,024; 6,000 in all
the embed's texts) are met by cutting the text before escaping it.
"""

from __future__ import annotations

import re

from newsalert.domain.chat.view import AlertView, Run, clip, plain, view_of
from newsalert.schemas import Alert, Digest

CONTENT_MAX = 2000
EMBED_TOTAL_MAX = 6000
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELD_MAX = 1024
_MARKDOWN = re.compile(r"([\\*_~`|><#\-\[\]():@])")
_LIST_NUMBER = re.compile(r"^(\d+)\.", re.MULTILINE)
_URL_UNSAFE = {"(": "%28", ")": "%29", " ": "%20", "<": "%3C", ">": "%3E"}
NO_MENTIONS = {"parse": []}


def escape(text: str) -> str:
    """``text`` as literal Discord markdown."""
    return _LIST_NUMBER.sub(r"\1\\.", _MARKDOWN.sub(r"\\\1", text))


def fit(text: str, limit: int) -> str:
    """``text`` escaped and at most ``limit`` characters long (cut before escaping, never mid-escape)."""
    escaped = escape(text)
    cut = limit - 1
    while len(escaped) > limit:
        escaped = escape(text[:cut]) + "…"
        cut -= max(1, len(escaped) - limit)
    return escaped


def marked(pieces: tuple[Run, ...]) -> str:
    """Runs as Discord markdown, highlighted ones in bold."""
    return "".join(f"**{escape(text)}**" if bold and text.strip() else escape(text) for text, bold in pieces)


def alert_message(alert: Alert) -> dict:
    """One alert: a short content line and one embed (title, url, description, fields)."""
    view = view_of(alert)
    title = plain(view.title)
    embed: dict = {"title": fit(title, TITLE_MAX), "description": marked(clip(view.excerpt, 1000)) or escape("(no text)")}
    if _http(view.url):
        embed["url"] = view.url
    if alert.article.published:
        embed["timestamp"] = alert.article.published.isoformat()
    embed["fields"] = _fields(view)
    content = fit(f"New alert for rule {view.rule_id}: {title}", CONTENT_MAX)
    return {"content": content, "embeds": [embed], "allowed_mentions": NO_MENTIONS}


def digest_message(digest: Digest) -> dict:
    """A digest: a count in ``content`` and one embed listing each alert's linked title."""
    views = [view_of(a) for a in digest.alerts]
    lines: list[str] = []
    used = 0
    for i, view in enumerate(views):
        line = f"• {_link(view)} · {fit(view.rule_id, 100)}"
        if used + len(line) + 40 > DESCRIPTION_MAX:
            lines.append(escape(f"and {len(views) - i} more"))
            break
        lines.append(line)
        used += len(line) + 1
    embed = {"title": fit(f"{len(views)} alerts for {digest.subscriber}", TITLE_MAX), "description": "\n".join(lines)}
    content = fit(f"{len(views)} alerts for {digest.subscriber}", CONTENT_MAX)
    return {"content": content, "embeds": [embed], "allowed_mentions": NO_MENTIONS}


def embed_chars(embed: dict) -> int:
    """The characters Discord counts against an embed's 6,000 (title, description, fields)."""
    fields = sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", []))
    return len(embed.get("title", "")) + len(embed.get("description", "")) + fields


def notice_message(text: str) -> dict:
    """A plain message (no alert): ``text`` escaped as the content, no embed, no mentions."""
    return {"content": fit(text, CONTENT_MAX), "allowed_mentions": NO_MENTIONS}


def _fields(view: AlertView) -> list[dict]:
    fields = []
    if view.source:
        fields.append({"name": "Source", "value": fit(view.source, 256), "inline": True})
    fields.append({"name": "Rule", "value": fit(f"{view.rule_id}: {view.query}", 512), "inline": True})
    if view.terms:
        terms = ", ".join(f"**{fit(t, 60)}**" for t in view.terms[:10])
        fields.append({"name": "Matched", "value": terms[:FIELD_MAX], "inline": False})
    return fields


def _link(view: AlertView) -> str:
    """``[title](url)`` (a masked link) or the escaped title alone."""
    label = fit(plain(view.title), 200)
    if not _http(view.url):
        return label
    return f"[{label}]({''.join(_URL_UNSAFE.get(ch, ch) for ch in view.url)})"


def _http(url: str | None) -> bool:
    return bool(url) and url.startswith(("http://", "https://"))
