"""Recognising a chat message newsalert sent, and its one-line gist (for the demo webhook sink).

A receiver of a chat format gets no ``WebhookPayload`` (no article or rule ids), only the message;
``chat_format_of`` tells which format a parsed body is, by its shape, and ``gist`` gives the text a
person would read first (Slack's fallback ``text``, the card's first line, Discord's ``content``),
with the format's escaping undone.
"""

from __future__ import annotations

import html
import re
from typing import Any

_DISCORD_ESCAPE = re.compile(r"\\(.)")


def chat_format_of(message: Any) -> str | None:
    """``slack``, ``teams`` or ``discord`` when ``message`` has that format's shape, else None."""
    if not isinstance(message, dict):
        return None
    if isinstance(message.get("blocks"), list) and isinstance(message.get("text"), str):
        return "slack"
    if message.get("type") == "message" and isinstance(message.get("attachments"), list) and message["attachments"]:
        return "teams"
    if isinstance(message.get("content"), str) and ("embeds" in message or "allowed_mentions" in message):
        return "discord"
    return None


def gist(fmt: str, message: dict) -> str:
    """The first thing a reader sees of ``message`` in chat format ``fmt``, on one line."""
    if fmt == "slack":
        text = html.unescape(message["text"]).replace("\u200b", "")
    elif fmt == "discord":
        text = _DISCORD_ESCAPE.sub(r"\1", message["content"])
    else:
        card = message["attachments"][0].get("content", {})
        blocks = card.get("body") or [{}]
        text = "".join(run.get("text", "") for run in blocks[0].get("inlines", []))
    return " ".join(str(text).split())
