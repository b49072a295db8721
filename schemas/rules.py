"""The watch-rule file as pydantic models: ``Subscriber``, ``Rule`` and ``RuleFile``.

Used by the YAML rule-file loader (``newsalert.domain.rulefile``) and by the rules HTTP API, so
they describe the structure only: cross-checks (unique ids, ``notify`` naming known subscribers)
and query compilation live in the loader. Every model refuses unknown keys (``extra="forbid"``): a
typo such as ``qurey:`` must not silently disable a rule.

Secrets: a subscriber's ``secret`` is one string or a list of two (rotation: every request then
carries both signatures). Each must be a Standard Webhooks secret, ``whsec_`` followed by the
base64 of a 24 to 64 byte key. The ``whsec_`` prefix is required here (the reference library makes
it optional) so that plain passwords such as ``hunter2``, which happen to be valid base64, are
refused: a receiver using a Standard Webhooks library would base64-decode them into a different key
than the sender meant and never verify a signature. Secrets are held as ``SecretStr``: they never
appear in a repr, a JSON dump, a log or an error message.

URLs: ``http`` or ``https`` with a host, no ``user:password@`` part. Error messages never repeat the
URL (it may carry a token in its query string). Whether the host resolves to a private address is
checked at delivery time, on the address actually connected to (SSRF guard).
"""

from __future__ import annotations

from typing import Any, Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from newsalert.schemas._common import URL_MAX, Identifier, _no_control_chars
from newsalert.schemas.formats import (
    BATCH_MAX_MAX,
    BATCH_MAX_MIN,
    MAX_PER_MINUTE_MAX,
    SECRET_PREFIX,
    DeliveryFormat,
    parse_duration,
    secret_bytes,
)

QUERY_MAX = 50_000
"""Longest query, in characters (the parser also limits a query to 1,000 terms)."""
DESCRIPTION_MAX = 10_000
"""Longest rule or subscriber description, in characters."""
SECRETS_MAX = 2
"""At most two secrets per subscriber: the current one and the next, during rotation."""
SECRET_MIN_BYTES = 24
SECRET_MAX_BYTES = 64
"""Key length bounds of the Standard Webhooks specification."""

_SECRET_HINT = (
    "whsec_ followed by the base64 of a 24 to 64 byte key; generate one with "
    "python -c \"import base64,os; print('whsec_' + base64.b64encode(os.urandom(32)).decode())\""
)

RULE_FILE_CONFIG = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

_Description = Annotated[str, Field(max_length=DESCRIPTION_MAX)]


def check_digest_window(value: str) -> str:
    """A digest window must parse as a bounded duration (``parse_duration`` says why not)."""
    parse_duration(value)
    return value


MaxPerMinute = Annotated[int, Field(ge=1, le=MAX_PER_MINUTE_MAX,
                                    description="Most single alerts a minute; the others wait for a digest (never dropped).")]
"""A subscriber's rate limit, the same in a rule file and in the subscription API."""
DigestWindow = Annotated[str, Field(max_length=16, description="Digest window such as 15m, 1h or 30s (1s to 24h): alerts "
                                    "over max_per_minute (every alert when max_per_minute is not set) are sent together at its end."),
                         AfterValidator(check_digest_window)]
"""A subscriber's digest window, the same in a rule file and in the subscription API."""
BatchMax = Annotated[int, Field(ge=BATCH_MAX_MIN, le=BATCH_MAX_MAX,
                                description="Most alerts in one POST: alerts waiting together on the subscriber's lane go "
                                "as one signed batch (type batch); a lone alert still goes alone at once.")]
"""A subscriber's ``batch_max``, the same in a rule file and in the subscription API."""


def check_webhook_url(url: str) -> str:
    """Refuse a URL that is not ``http(s)://host...`` or that carries credentials; never echo it."""
    _no_control_chars(url)
    if any(ch.isspace() for ch in url):
        raise ValueError("url must not contain spaces")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        shown = f"{scheme!r}" if scheme and len(scheme) <= 20 else "missing"
        raise ValueError(f"url scheme must be http or https (it is {shown})")
    if "@" in parts.netloc:
        raise ValueError("url must not contain credentials (user:password@); authenticate with the signing secret")
    if not parts.hostname:
        raise ValueError("url has no host")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValueError("url has an invalid port") from None
    return url


def check_secret(secret: SecretStr) -> SecretStr:
    """Refuse a secret that is not ``whsec_<base64>`` of a 24 to 64 byte key; never echo it."""
    if not secret.get_secret_value().startswith(SECRET_PREFIX):
        raise ValueError(f"secret must be a Standard Webhooks secret: {_SECRET_HINT}")
    try:
        key = secret_bytes(secret.get_secret_value())
    except ValueError:
        raise ValueError(f"secret is not valid base64 after whsec_: {_SECRET_HINT}") from None
    if not SECRET_MIN_BYTES <= len(key) <= SECRET_MAX_BYTES:
        # The actual length is not shown: nothing about a secret goes into a message.
        raise ValueError(f"secret key must be {SECRET_MIN_BYTES} to {SECRET_MAX_BYTES} bytes once base64-decoded: {_SECRET_HINT}")
    return secret


WebhookUrl = Annotated[str, Field(min_length=1, max_length=URL_MAX), AfterValidator(check_webhook_url)]
WebhookSecret = Annotated[SecretStr, AfterValidator(check_secret)]


class Subscriber(BaseModel):
    """A webhook endpoint that rules notify."""

    model_config = RULE_FILE_CONFIG

    id: Identifier
    url: WebhookUrl
    secret: tuple[WebhookSecret, ...] = Field(
        min_length=1, max_length=SECRETS_MAX, description="One secret, or two during rotation."
    )
    description: _Description | None = None
    max_per_minute: MaxPerMinute | None = None
    digest: DigestWindow | None = None
    batch_max: BatchMax | None = None
    format: DeliveryFormat = Field(
        "standard",
        description="Body of each POST: the Standard Webhooks JSON payload (standard), or a Slack, "
        "Microsoft Teams or Discord message (docs/webhooks.md); the signature headers are sent either way.",
    )

    @model_validator(mode="after")
    def _batches_are_standard(self) -> Subscriber:
        """A batch body is Standard Webhooks JSON: chat formats send each alert alone."""
        if self.batch_max is not None and self.format != "standard":
            raise ValueError(f"batch_max needs format standard (a {self.format} message carries one alert)")
        return self

    def digest_seconds(self) -> int | None:
        """The digest window in seconds, or None when there is none."""
        return None if self.digest is None else parse_duration(self.digest)

    @field_validator("secret", mode="before")
    @classmethod
    def _one_or_list(cls, value: Any) -> Any:
        """``secret: whsec_...`` is the same as ``secret: [whsec_...]``."""
        if isinstance(value, (str, SecretStr)):
            return (value,)
        return value

    def secret_values(self) -> tuple[str, ...]:
        """The secrets in clear, for signing only (never log them)."""
        return tuple(s.get_secret_value() for s in self.secret)

    def secret_keys(self) -> tuple[bytes, ...]:
        """The HMAC keys of the secrets (base64-decoded), for signing only."""
        return tuple(secret_bytes(s.get_secret_value()) for s in self.secret)


LanguageCode = Annotated[str, Field(pattern=r"^[A-Za-z]{2,8}([-_][A-Za-z0-9]{1,8})*$", max_length=35)]
"""A language tag as articles carry it (``en``, ``fr``, ``pt-BR``)."""
SourceName = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_no_control_chars)]
"""An article source name (``Reuters``, ``BBC News``)."""
ListName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$", max_length=100)]
"""A named term list's name, used in queries as ``@name``."""
LIST_ITEMS_MAX = 1_000
"""Most items in one named term list (a query has at most 1,000 terms anyway)."""
LISTS_MAX = 1_000
"""Most named term lists in one rule file."""


class Rule(BaseModel):
    """A watch rule: a query, and the subscribers notified when an article matches it.

    ``languages`` and ``sources`` are filters: when given, the rule only applies to articles whose
    ``language`` (its primary subtag: ``en`` also takes ``en-GB``) or ``source`` is listed,
    compared case-insensitively; an article without that field is not matched.
    """

    model_config = RULE_FILE_CONFIG

    id: Identifier
    query: str = Field(min_length=1, max_length=QUERY_MAX)
    notify: tuple[Identifier, ...] = ()
    description: _Description | None = None
    languages: tuple[LanguageCode, ...] = Field((), max_length=100)
    sources: tuple[SourceName, ...] = Field((), max_length=1_000)


class RuleFile(BaseModel):
    """A whole rule file: subscribers, named term lists and rules (the loader checks references)."""

    model_config = RULE_FILE_CONFIG

    subscribers: tuple[Subscriber, ...] = ()
    lists: dict[ListName, tuple[Annotated[str, Field(min_length=1, max_length=1_000)], ...]] = Field(
        default_factory=dict, max_length=LISTS_MAX, description="Named term lists: @name in a query is (item OR item ...)."
    )
    rules: tuple[Rule, ...]
