"""Where and how to deliver a subscriber's alerts: its URL and signing secret(s).

The rule file is the source of truth for subscribers; secrets never travel through Kafka. This
module turns the rule file's subscribers into ``Endpoint`` values the sender needs, whatever the
exact shape of the secret field (one secret, or several during rotation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr


@dataclass(frozen=True)
class Endpoint:
    """One subscriber's webhook: id, URL and the secrets every request is signed with."""

    subscriber: str
    url: str
    secrets: tuple[SecretStr, ...]

    def __post_init__(self) -> None:
        if not self.secrets:
            raise ValueError(f"subscriber {self.subscriber!r} has no signing secret")

    @property
    def safe_url(self) -> str:
        """The URL without credentials, query or fragment: what logs may show."""
        return redact_url(self.url)


def redact_url(url: str) -> str:
    """``url`` with user info, query string and fragment removed (they may carry tokens)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable url>"
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def endpoints_from_subscribers(subscribers: Mapping[str, Any]) -> dict[str, Endpoint]:
    """Endpoints of a rule set's ``subscribers`` (id -> object with ``url`` and ``secret``/``secrets``)."""
    return {sid: Endpoint(sid, str(sub.url), _secrets_of(sub)) for sid, sub in subscribers.items()}


def _secrets_of(subscriber: Any) -> tuple[SecretStr, ...]:
    """The subscriber's secrets as ``SecretStr``: accepts one value or a list, str or SecretStr."""
    value = getattr(subscriber, "secrets", None)
    if value is None:
        value = getattr(subscriber, "secret", None)
    values = value if isinstance(value, (list, tuple)) else [value]
    return tuple(v if isinstance(v, SecretStr) else SecretStr(str(v)) for v in values if v is not None)
