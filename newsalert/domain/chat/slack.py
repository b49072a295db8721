"""Slack incoming-webhook messages: ``text`` (the notification fallback) and Block Kit ``blocks``.

Slack reads ``&``, ``<`` and ``>`` as control characters in every mrkdwn text, so they become
``&amp;``, ``&lt;``, ``&gt;`` (its documented escaping); ``<!channel>`` or ``<@U123>`` in an
article can then neither mention nor link. Slack has no escape for its formatting characters
``* _ ~ ` ``: a zero-width space is put before each one from an article, so it cannot open or
close bold, italic, strike or code. URLs go in ``<url|title>`` with ``| < >`` and spaces
percent-encoded. Limits: section text 3,000 characters, 50 blocks.
"""

from __future__ import annotations

import re

from newsalert.domain.chat.view import AlertView, Run, clip, plain, view_of
from newsalert.schemas import Alert, Digest

SECTION_MAX = 3000
BLOCKS_MAX = 50
URL_MAX = 1000
"""Longer article URLs are not linked (the section would exceed Slack's limit with the title)."""
_CONTROL = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_FORMATTING = re.compile(r"([*_~`])")
_URL_UNSAFE = {"|": "%7C", "<": "%3C", ">": "%3E", " ": "%20"}


def escape(text: str) -> str:
    """``text`` as literal mrkdwn: control characters escaped, formatting characters neutralised."""
    text = "".join(_CONTROL.get(ch, ch) for ch in text)
    return _FORMATTING.sub("\u200b\\1", text)


def fit(text: str, limit: int) -> str:
    """``text`` escaped and at most ``limit`` characters long (cut before escaping, never mid-entity)."""
    escaped = escape(text)
    cut = limit - 1
    while len(escaped) > limit:
        escaped = escape(text[:cut]) + "…"
        cut -= max(1, len(escaped) - limit)
    return escaped


def link(url: str | None, label: str) -> str:
    """``<url|label>`` for an http(s) URL of at most ``URL_MAX`` characters (``label`` already
    escaped), else the label alone."""
    if not url or not url.startswith(("http://", "https://")):
        return label
    encoded = "".join(_URL_UNSAFE.get(ch, ch) for ch in url)
    return label if len(encoded) > URL_MAX else f"<{encoded}|{label}>"


def marked(pieces: tuple[Run, ...]) -> str:
    """Runs as mrkdwn, highlighted ones in bold."""
    return "".join(f"*{escape(text)}*" if bold and text.strip() else escape(text) for text, bold in pieces)


def alert_message(alert: Alert) -> dict:
    """One alert: linked title, excerpt with the matched terms in bold, source, time and rule."""
    view = view_of(alert)
    blocks = [
        _section(_title(view)),
        _context(_meta(view)),
    ]
    if view.excerpt:
        blocks.insert(1, _section(marked(clip(view.excerpt, 450))))
    return {"text": _fallback(view), "blocks": blocks}


def digest_message(digest: Digest) -> dict:
    """A digest: a count line, then one section per alert (as many as Slack's block limit allows)."""
    views = [view_of(a) for a in digest.alerts]
    shown = views[: BLOCKS_MAX - 2]
    blocks = [_section(f"*{len(views)} alerts* for {escape(digest.subscriber)}")]
    for view in shown:
        blocks.append(_section(f"{_title(view, 600)}\n{_meta(view)}"))
    if len(views) > len(shown):
        blocks.append(_context(f"and {len(views) - len(shown)} more"))
    titles = [fit(plain(v.title), 120) for v in views]
    text = f"{len(views)} alerts: "
    for i, title in enumerate(titles):
        if len(text) + len(title) + 20 > SECTION_MAX:
            text += f"and {len(titles) - i} more"
            break
        text += title + "; "
    return {"text": text.rstrip("; "), "blocks": blocks}


def _title(view: AlertView, limit: int = 1500) -> str:
    """The title in bold, linked to the article."""
    return f"*{link(view.url, fit(plain(view.title), limit))}*"


def notice_message(text: str) -> dict:
    """A plain message (no alert): ``text`` escaped, as fallback and as the one section."""
    escaped = fit(text, SECTION_MAX)
    return {"text": escaped, "blocks": [_section(escaped)]}


def _fallback(view: AlertView) -> str:
    """The notification text: title, source and rule, escaped, no formatting."""
    source = f" ({fit(view.source, 300)})" if view.source else ""
    return f"{fit(plain(view.title), 1500)}{source}, rule {fit(view.rule_id, 300)}"


def _meta(view: AlertView) -> str:
    parts = [fit(p, 300) for p in (view.source, view.published) if p]
    parts.append(f"rule {fit(view.rule_id, 300)}: {fit(view.query, 600)}")
    if view.terms:
        parts.append("matched " + ", ".join(f"*{fit(t, 80)}*" for t in view.terms[:10]))
    return " · ".join(parts)


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}
