"""The feed file (``FeedSpec``, ``FeedFile``) and the seen-entry record of ``feeds.seen`` (``SeenEntries``).

A feed file lists the RSS, Atom or JSON Feed URLs ``newsalert serve feeds`` polls::

    feeds:
      - id: afp-world
        url: https://example.org/world.xml
        interval: 5m          # default 5m; a duration 30s, 15m, 1h
        language: en          # default: the entry's, else the feed's language
        source: AFP           # default: the feed's title
        full_text: false      # true: fetch each entry's page and extract its main text

Only ``id`` and ``url`` are required; unknown keys are refused (a typo must not go unnoticed).
The YAML loader with file, line and column for every problem is ``newsalert.domain.feeds.feedfile``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from newsalert.schemas._common import ID_MAX, WIRE_CONFIG, Identifier
from newsalert.schemas.article import LANGUAGE_MAX, SOURCE_MAX, _LANGUAGE_PATTERN
from newsalert.schemas.formats import parse_duration
from newsalert.schemas.rules import check_webhook_url

INTERVAL_MIN_S = 10
INTERVAL_MAX_S = 24 * 3600
"""Bounds of a feed's polling interval: ten seconds (tests, very busy feeds) to one day."""
DEFAULT_INTERVAL = "5m"
FEEDS_MAX = 10_000
"""Most feeds in one file."""
SEEN_MAX = 10_000
"""Most entry ids one ``SeenEntries`` record may hold (the service keeps fewer: a setting)."""


def interval_seconds(text: str) -> int:
    """Seconds of a polling interval such as ``30s``, ``5m`` or ``1h`` (``ValueError`` otherwise)."""
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        if "out of range" not in str(exc):
            raise
        seconds = INTERVAL_MAX_S + 1
    if not INTERVAL_MIN_S <= seconds <= INTERVAL_MAX_S:
        raise ValueError(f"{text!r} is out of range: a feed interval is {INTERVAL_MIN_S}s to 24h")
    return seconds


_FeedUrl = Annotated[str, Field(min_length=1, max_length=2048), AfterValidator(check_webhook_url)]


class FeedSpec(BaseModel):
    """One feed of the feed file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Identifier = Field(description="Stable feed id: part of every article id and of the seen-entry key.")
    url: _FeedUrl = Field(description="http(s) URL of an RSS 0.9x/1.0/2.0, Atom or JSON Feed document.")
    interval: str = Field(DEFAULT_INTERVAL, description="Polling interval, such as 30s, 5m or 1h (jitter is added).")
    language: str | None = Field(None, max_length=LANGUAGE_MAX, pattern=_LANGUAGE_PATTERN, description="Language of every entry; default: the entry's or the feed's.")
    source: str | None = Field(None, min_length=1, max_length=SOURCE_MAX, description="Source of every entry; default: the feed's title.")
    full_text: bool = Field(False, description="Fetch each entry's page and publish its main text (trafilatura) as the body.")

    @field_validator("interval")
    @classmethod
    def _interval_parses(cls, value: str) -> str:
        interval_seconds(value)
        return value

    @property
    def interval_s(self) -> int:
        """The polling interval in seconds."""
        return interval_seconds(self.interval)


class FeedFile(BaseModel):
    """The whole feed file: a list of feeds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    feeds: list[FeedSpec] = Field(min_length=1, max_length=FEEDS_MAX)


class SeenEntries(BaseModel):
    """The ids of one feed's entries already published, newest last; on the compacted
    ``feeds.seen`` topic under the feed id, so a restart publishes none of them again."""

    model_config = WIRE_CONFIG

    feed: Identifier
    ids: list[Annotated[str, Field(min_length=1, max_length=ID_MAX)]] = Field(max_length=SEEN_MAX)

    def to_json(self) -> bytes:
        """The compact JSON encoding used as the Kafka record value."""
        return self.model_dump_json().encode()
