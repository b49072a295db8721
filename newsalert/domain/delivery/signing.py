"""Standard Webhooks signatures: signing requests (notifier) and verifying them (receivers).

The scheme, as the Standard Webhooks specification defines it:

- a secret is ``whsec_`` followed by base64; the HMAC key is the base64-decoded part (the
  ``whsec_`` prefix is optional on input, as in the reference library);
- the signed content is ``"{webhook-id}.{webhook-timestamp}.{body}"``, the timestamp being
  integer unix seconds and the body the exact bytes sent;
- ``webhook-signature`` is ``v1,<base64 HMAC-SHA256>``; with several secrets (rotation) each
  contributes one such entry and the entries are separated by single spaces;
- a receiver accepts the request when any ``v1`` entry matches any of its secrets and the
  timestamp is within a tolerance of its clock (replay protection; 5 minutes by default).

Secrets may be given as ``str`` or as anything with ``get_secret_value()`` (pydantic
``SecretStr``), so callers can keep them wrapped until this point. No function here logs, and
no error message contains a secret or a signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from functools import lru_cache
from typing import Iterable, Mapping, Protocol, Union

from newsalert.errors import InputError
from newsalert.schemas.formats import SECRET_PREFIX, secret_bytes  # noqa: F401 - SECRET_PREFIX re-exported

SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE_S = 300
"""How far a receiver lets ``webhook-timestamp`` be from its clock, in seconds (the spec's 5 min)."""

HEADER_ID = "webhook-id"
HEADER_TIMESTAMP = "webhook-timestamp"
HEADER_SIGNATURE = "webhook-signature"


class _SecretLike(Protocol):
    def get_secret_value(self) -> str: ...


Secret = Union[str, _SecretLike]


class SignatureError(InputError):
    """A request whose signature headers are missing, malformed, stale or do not match."""


class SecretFormatError(InputError):
    """A secret that is not ``whsec_<base64>`` of at least one byte (the value is never shown)."""


def secret_key(secret: Secret) -> bytes:
    """The HMAC key of ``secret``: the base64-decoded part after the optional ``whsec_`` prefix."""
    try:
        return _decoded(_reveal(secret))
    except ValueError as exc:
        raise SecretFormatError(str(exc)) from None


@lru_cache(maxsize=4096)
def _decoded(text: str) -> bytes:
    """``secret_bytes`` remembered: the notifier signs every attempt with the same few secrets."""
    return secret_bytes(text)


def sign(secrets: Iterable[Secret], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one ``v1,<base64>`` entry per secret, space-separated."""
    keys = [secret_key(s) for s in secrets]
    if not keys:
        raise SecretFormatError("at least one secret is needed to sign")
    return " ".join(f"{SIGNATURE_VERSION},{_b64(_mac(k, msg_id, timestamp, body))}" for k in keys)


def signed_headers(secrets: Iterable[Secret], msg_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt at sending ``body``.

    ``timestamp`` defaults to now: each attempt is signed afresh so that retries late in the
    schedule still pass the receiver's freshness check.
    """
    ts = int(time.time()) if timestamp is None else int(timestamp)
    return {
        HEADER_ID: msg_id,
        HEADER_TIMESTAMP: str(ts),
        HEADER_SIGNATURE: sign(secrets, msg_id, ts, body),
    }


def verify(
    secrets: Iterable[Secret],
    headers: Mapping[str, str],
    body: bytes,
    tolerance: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> None:
    """Check a received request; return ``None`` if valid, raise ``SignatureError`` otherwise.

    ``headers`` are looked up case-insensitively. Entries of versions other than ``v1`` and
    malformed entries are skipped (a sender may add future schemes). Comparison is constant-time.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id = lowered.get(HEADER_ID)
    ts_text = lowered.get(HEADER_TIMESTAMP)
    sig_text = lowered.get(HEADER_SIGNATURE)
    if not (msg_id and ts_text and sig_text):
        missing = [name for name, value in ((HEADER_ID, msg_id), (HEADER_TIMESTAMP, ts_text), (HEADER_SIGNATURE, sig_text)) if not value]
        raise SignatureError(f"missing header(s): {', '.join(missing)}")
    timestamp = _check_timestamp(ts_text, tolerance, time.time() if now is None else now)
    offered = list(_v1_signatures(sig_text))
    if not offered:
        raise SignatureError("no v1 signature in webhook-signature")
    for key in (secret_key(s) for s in secrets):
        expected = _mac(key, msg_id, timestamp, body)
        if any(hmac.compare_digest(expected, candidate) for candidate in offered):
            return
    raise SignatureError("no signature matches the subscriber's secret(s)")


def _check_timestamp(text: str, tolerance: float, now: float) -> int:
    """The header's timestamp as int seconds, if it is an integer within ``tolerance`` of ``now``."""
    try:
        timestamp = int(text.strip())
    except ValueError:
        raise SignatureError("webhook-timestamp is not integer unix seconds") from None
    if timestamp < now - tolerance:
        raise SignatureError(f"webhook-timestamp is {int(now - timestamp)} s old, beyond the {tolerance:g} s tolerance")
    if timestamp > now + tolerance:
        raise SignatureError(f"webhook-timestamp is {int(timestamp - now)} s in the future, beyond the {tolerance:g} s tolerance")
    return timestamp


def _v1_signatures(header: str) -> Iterable[bytes]:
    """The decoded ``v1`` signatures of a ``webhook-signature`` header; other entries skipped."""
    for entry in header.split():
        version, sep, value = entry.partition(",")
        if sep and version == SIGNATURE_VERSION:
            try:
                yield base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                continue


def _mac(key: bytes, msg_id: str, timestamp: int, body: bytes) -> bytes:
    """HMAC-SHA256 of ``"{id}.{timestamp}.{body}"``."""
    # One-shot ``hmac.digest`` (OpenSSL in C), not an ``HMAC`` object: same bytes, less work per request.
    return hmac.digest(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _reveal(secret: Secret) -> str:
    """The secret's text, unwrapping a ``SecretStr``-like object."""
    if isinstance(secret, str):
        return secret
    return secret.get_secret_value()
