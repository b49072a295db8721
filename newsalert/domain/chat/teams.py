"""Microsoft Teams messages: one Adaptive Card attachment (incoming webhook or Workflows).

Adaptive Card ``TextBlock`` and ``FactSet`` values are read as markdown, and the card format has
no escape for it, so article text goes only into ``RichTextBlock`` ``TextRun`` elements, which
Adaptive Cards never read as markdown; highlighted terms are runs with ``weight: Bolder``. The
article link is an ``Action.OpenUrl`` (on the title run and as a button). Teams refuses cards
above about 28 KB: a digest lists at most ``DIGEST_SHOWN`` alerts, titles only, within
``DIGEST_BYTES``.
"""

from __future__ import annotations

import json

from newsalert.domain.chat.view import AlertView, Run, clip, view_of
from newsalert.schemas import Alert, Digest

CARD_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_VERSION = "1.4"
DIGEST_SHOWN = 30
DIGEST_BYTES = 24_000
"""A digest card lists alerts while their blocks stay under this many bytes of JSON."""


def alert_message(alert: Alert) -> dict:
    """One alert as a card: linked title, source and time, excerpt with bold terms, the rule."""
    view = view_of(alert)
    body = [_rich(_runs(clip(view.title, 300), size="Large", url=view.url)), _rich([_run(_meta(view), subtle=True)])]
    if view.excerpt:
        body.append(_rich(_runs(view.excerpt)))
    body.append(_rich([_run("Rule ", subtle=True), _run(view.rule_id, bold=True), _run(f": {view.query[:300]}", subtle=True)]))
    actions = [_open(view.url, "Read the article")] if _http(view.url) else []
    return _message(body, actions)


def digest_message(digest: Digest) -> dict:
    """A digest as one card: a count line, then each alert's linked title and source line."""
    views = [view_of(a) for a in digest.alerts]
    body = [_rich([_run(f"{len(views)} alerts for ", size="Medium"), _run(digest.subscriber, bold=True, size="Medium")])]
    size = 0
    for i, view in enumerate(views):
        blocks = [_rich(_runs(clip(view.title, 200), url=view.url)), _rich([_run(_meta(view), subtle=True)])]
        size += len(json.dumps(blocks, ensure_ascii=False).encode())
        if i == DIGEST_SHOWN or size > DIGEST_BYTES:
            body.append(_rich([_run(f"and {len(views) - i} more", subtle=True)]))
            break
        body.extend(blocks)
    return _message(body, [])


def notice_message(text: str) -> dict:
    """A plain message (no alert): one card with ``text`` in one run."""
    return _message([_rich([_run(text)])], [])


def _message(body: list[dict], actions: list[dict]) -> dict:
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
        "msteams": {"width": "Full"},
    }
    if actions:
        card["actions"] = actions
    return {"type": "message", "attachments": [{"contentType": CARD_TYPE, "contentUrl": None, "content": card}]}


def _meta(view: AlertView) -> str:
    parts = [p for p in (view.source, view.published) if p]
    if view.terms:
        parts.append("matched " + ", ".join(t[:50] for t in view.terms[:10]))
    return " · ".join(parts) or "no source"


def _runs(pieces: tuple[Run, ...], size: str | None = None, url: str | None = None) -> list[dict]:
    return [_run(text, bold=bold, size=size, url=url) for text, bold in pieces if text]


def _run(text: str, bold: bool = False, subtle: bool = False, size: str | None = None, url: str | None = None) -> dict:
    run: dict = {"type": "TextRun", "text": text}
    if bold:
        run["weight"] = "Bolder"
    if subtle:
        run["isSubtle"] = True
    if size:
        run["size"] = size
    if _http(url):
        run["selectAction"] = _open(url)
    return run


def _rich(inlines: list[dict]) -> dict:
    return {"type": "RichTextBlock", "inlines": inlines}


def _open(url: str, title: str | None = None) -> dict:
    action = {"type": "Action.OpenUrl", "url": url}
    if title:
        action["title"] = title
    return action


def _http(url: str | None) -> bool:
    return bool(url) and url.startswith(("http://", "https://"))
