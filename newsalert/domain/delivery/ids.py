"""The ``webhook-id`` of an alert: stable for a given article, rule and subscriber.

Standard Webhooks receivers de-duplicate on ``webhook-id``, so the id must be the same every time
the same alert is produced (a matcher re-processing an article after a crash, a notifier
re-delivering after a restart, a dead letter replayed days later). It is derived, never random:

    msg_ + base32(sha256(len:article_id | len:rule_id | len:subscriber_id)[:20]), lower case

Each part is length-prefixed, so no choice of ids can make two different triples collide by
concatenation (``("a:b", "c")`` and ``("a", "b:c")`` give different ids). 160 bits of the hash
keep accidental collisions out of reach for any realistic number of alerts.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Sequence

from newsalert.schemas.alert import WEBHOOK_ID_PREFIX
_DIGEST_BYTES = 20  # 160 bits -> 32 base32 characters, no padding


# base32 in lower case, as 1024 pairs of letters: ten bits of the digest per lookup.
_B32_PAIRS = tuple(a + b for a in "abcdefghijklmnopqrstuvwxyz234567" for b in "abcdefghijklmnopqrstuvwxyz234567")
_PAIR_SHIFTS = tuple(range(_DIGEST_BYTES * 8 - 10, -1, -10))


def webhook_id(article_id: str, rule_id: str, subscriber_id: str) -> str:
    """The deterministic ``webhook-id`` for (article, rule, subscriber); see the module docstring."""
    if not (isinstance(article_id, str) and article_id and isinstance(rule_id, str) and rule_id
            and isinstance(subscriber_id, str) and subscriber_id):
        _refuse(article_id, rule_id, subscriber_id)
    material = f"{len(article_id)}:{article_id}|{len(rule_id)}:{rule_id}|{len(subscriber_id)}:{subscriber_id}"
    digest = hashlib.sha256(material.encode("utf-8")).digest()[:_DIGEST_BYTES]
    return WEBHOOK_ID_PREFIX + _b32_lower(digest)


def _b32_lower(digest: bytes) -> str:
    """``base64.b32encode(digest).decode().lower()`` for a 20-byte digest (no padding needed).

    The matcher derives one id per alert; the table lookup is about twice as fast as
    ``base64.b32encode``, whose Python loop and ``lower()`` were most of the id's cost.
    """
    bits = int.from_bytes(digest, "big")
    return "".join([_B32_PAIRS[(bits >> shift) & 1023] for shift in _PAIR_SHIFTS])


def _refuse(article_id: object, rule_id: object, subscriber_id: object) -> None:
    """Raise the ``ValueError`` naming the first part that is not a non-empty string."""
    for name, value in (("article_id", article_id), ("rule_id", rule_id), ("subscriber_id", subscriber_id)):
        if not isinstance(value, str) or not value:
            raise ValueError(f"webhook_id: {name} must be a non-empty string, got {value!r}")


def digest_webhook_id(subscriber_id: str, window_start: int) -> str:
    """The ``webhook-id`` of a subscriber's digest opened at ``window_start`` (epoch seconds).

    Derived like an alert's id from length-prefixed parts, after a bare ``digest|`` tag: an
    alert's material starts with a digit (a length), so the two can never be the same input.
    Re-sending the same digest (a retry) keeps its id.
    """
    if not isinstance(subscriber_id, str) or not subscriber_id:
        raise ValueError(f"digest_webhook_id: subscriber_id must be a non-empty string, got {subscriber_id!r}")
    material = "digest|" + "|".join(f"{len(part)}:{part}" for part in (subscriber_id, str(int(window_start))))
    digest = hashlib.sha256(material.encode("utf-8")).digest()[:_DIGEST_BYTES]
    return WEBHOOK_ID_PREFIX + base64.b32encode(digest).decode("ascii").lower()


def batch_webhook_id(subscriber_id: str, alert_ids: Sequence[str]) -> str:
    """The ``webhook-id`` of a batch of a subscriber's alerts, derived from their ids in order.

    Tagged ``batch|`` (no alert or digest material starts so); a retried batch carries the same
    alerts, so it keeps its id. Each alert keeps its own id inside the body.
    """
    if not isinstance(subscriber_id, str) or not subscriber_id or not alert_ids:
        raise ValueError("batch_webhook_id: a subscriber id and at least one alert id are needed")
    material = "batch|" + "|".join(f"{len(part)}:{part}" for part in (subscriber_id, *alert_ids))
    digest = hashlib.sha256(material.encode("utf-8")).digest()[:_DIGEST_BYTES]
    return WEBHOOK_ID_PREFIX + base64.b32encode(digest).decode("ascii").lower()
