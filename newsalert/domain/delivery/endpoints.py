"""Where and how to deliver a subscriber's alerts: its URL and signing secret(s).

The rule file is the source of truth for subscribers; secrets never travel through Kafka. This
module turns the rule file's subscribers into ``Endpoint`` values the sender needs, whatever the
exact shape of the secret field (one secret, or several during rotation).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Mapping
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr

from newsalert.domain.delivery.ratelimit import RateLimit
from newsalert.schemas.formats import parse_duration


@dataclass(frozen=True)
class Endpoint:
    """One subscriber's webhook: id, URL and the secrets every request is signed with."""

    subscriber: str
    url: str
    secrets: tuple[SecretStr, ...]
    limit: RateLimit | None = None  # max_per_minute / digest; None: every alert is sent alone
    format: str = "standard"  # the body: Standard Webhooks JSON, or a chat message (newsalert.domain.chat)
    batch_max: int | None = None  # most waiting alerts sent together in one POST; None: one alert per POST

    def __post_init__(self) -> None:
        if not self.secrets:
            raise ValueError(f"subscriber {self.subscriber!r} has no signing secret")

    @cached_property  # written into every attempt record: parsed once, not per attempt
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
    return {sid: endpoint_of(sid, sub) for sid, sub in subscribers.items()}


def endpoint_of(subscriber_id: str, subscriber: Any) -> Endpoint:
    """The endpoint of one subscriber (a ``newsalert.schemas.rules.Subscriber`` or alike), rate limit included."""
    digest = getattr(subscriber, "digest", None)
    limit = RateLimit.of(getattr(subscriber, "max_per_minute", None), None if digest is None else parse_duration(digest))
    return Endpoint(subscriber_id, str(subscriber.url), _secrets_of(subscriber), limit, getattr(subscriber, "format", "standard"),
                    getattr(subscriber, "batch_max", None))


def _secrets_of(subscriber: Any) -> tuple[SecretStr, ...]:
    """The subscriber's secrets as ``SecretStr``: accepts one value or a list, str or SecretStr."""
    value = getattr(subscriber, "secrets", None)
    if value is None:
        value = getattr(subscriber, "secret", None)
    values = value if isinstance(value, (list, tuple)) else [value]
    return tuple(v if isinstance(v, SecretStr) else SecretStr(str(v)) for v in values if v is not None)
