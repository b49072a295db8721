"""Chat messages for subscribers who read alerts in Slack, Microsoft Teams or Discord.

A subscriber's ``format`` (``standard``, the default, or one of ``CHAT_FORMATS``) picks the body
the notifier POSTs; the Standard Webhooks headers are sent whatever the format. ``chat_body``
renders an alert or a digest (one message listing its alerts) for a chat format. Article text is
untrusted: each format module escapes what its platform treats as markup, or puts the text where
no markup is read. The shapes are documented as JSON Schemas in ``docs/chat/``.
"""

from __future__ import annotations

import json

from newsalert.schemas import Alert, Batch, Digest
from newsalert.schemas.formats import DELIVERY_FORMATS

CHAT_FORMATS = tuple(f for f in DELIVERY_FORMATS if f != "standard")


def chat_message(fmt: str, item: Alert | Digest | Batch) -> dict:
    """The message of ``item`` in chat format ``fmt`` (one of ``CHAT_FORMATS``); a batch (retried
    after its subscriber switched to a chat format) reads like a digest: one message listing it."""
    from newsalert.domain.chat import discord, slack, teams

    renderers = {"slack": slack, "teams": teams, "discord": discord}
    if fmt not in renderers:
        raise ValueError(f"unknown chat format {fmt!r} (known: {', '.join(CHAT_FORMATS)})")
    module = renderers[fmt]
    return module.digest_message(item) if isinstance(item, (Digest, Batch)) else module.alert_message(item)


def chat_notice(fmt: str, text: str) -> bytes:
    """A plain message with ``text`` (not an alert) in chat format ``fmt``, as bytes to POST."""
    from newsalert.domain.chat import discord, slack, teams

    module = {"slack": slack, "teams": teams, "discord": discord}[fmt]
    return json.dumps(module.notice_message(text), ensure_ascii=False, separators=(",", ":")).encode()


def chat_body(fmt: str, item: Alert | Digest | Batch) -> bytes:
    """The exact bytes POSTed (and signed) for ``item`` in chat format ``fmt``: compact UTF-8 JSON."""
    return json.dumps(chat_message(fmt, item), ensure_ascii=False, separators=(",", ":")).encode()
