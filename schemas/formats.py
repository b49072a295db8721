"""Wire formats shared by the models and the domain: webhook secrets, durations, delivery limits.

Pure parsing with ``ValueError``s that never quote a secret; the domain (signing, rate limits)
imports these, so the models need nothing from it.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Literal, get_args

SECRET_PREFIX = "whsec_"
"""Standard Webhooks secrets are ``whsec_`` followed by the base64 of the key."""

DURATION_MIN_S = 1
DURATION_MAX_S = 24 * 3600
"""Bounds of a digest window: one second (for tests) to one day."""
MAX_PER_MINUTE_MAX = 10_000
"""Largest ``max_per_minute`` (more is no limit at all for a webhook)."""
DIGEST_ALERTS_MAX = 100
"""Most alerts in one digest; a fuller window is sent as several digests."""
BATCH_MAX_MIN = 2
BATCH_MAX_MAX = 1_000
"""Bounds of a subscriber's ``batch_max``: alerts in one batched POST."""

DeliveryFormat = Literal["standard", "slack", "teams", "discord"]
"""A subscriber's ``format``: the Standard Webhooks JSON body (default) or a chat message."""
DELIVERY_FORMATS: tuple[str, ...] = get_args(DeliveryFormat)

_DURATION = re.compile(r"^([1-9][0-9]{0,5})([smh])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600}


def secret_bytes(text: str) -> bytes:
    """The HMAC key of secret ``text``: the base64 after the optional ``whsec_`` prefix."""
    text = text.strip()
    if text.startswith(SECRET_PREFIX):
        text = text[len(SECRET_PREFIX) :]
    # Secrets are often written without base64 padding; restore it before strict decoding.
    padded = text + "=" * (-len(text) % 4)
    try:
        key = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("secret is not valid base64 after the 'whsec_' prefix") from None
    if not key:
        raise ValueError("secret is empty")
    return key


def parse_duration(text: str) -> int:
    """Seconds of a duration such as ``30s``, ``15m`` or ``1h``; ``ValueError`` naming the rule."""
    if not isinstance(text, str):
        raise ValueError("a duration must be a string such as 30s, 15m or 1h")
    match = _DURATION.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a duration: a whole number and a unit s, m or h, such as 30s, 15m or 1h")
    seconds = int(match.group(1)) * _UNIT_S[match.group(2)]
    if not DURATION_MIN_S <= seconds <= DURATION_MAX_S:
        raise ValueError(f"{text!r} is out of range: a digest window is 1s to 24h")
    return seconds
