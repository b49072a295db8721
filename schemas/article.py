"""``Article``: one news article, as published to the ``articles`` topic (key: the article id).

Producers send JSON objects. ``id`` is required; every other field is optional and may be null.
Unknown top-level keys are not rejected: they are moved under ``metadata`` so that real feeds with
extra keys (``category``, ``author``, ...) flow through unchanged. A key that appears both at the
top level and inside ``metadata`` is refused, because keeping one would silently drop the other.

Size limits are module constants so that ingest and replay can refer to them; a record above a
limit is refused, never truncated. ``ARTICLE_MAX_BYTES`` bounds one encoded record and stays
below Kafka's default ``message.max.bytes`` (1 MiB).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from newsalert.schemas._common import ID_MAX, URL_MAX, Identifier, UtcDatetime, _no_control_chars

ARTICLE_ID_MAX = ID_MAX
"""Longest article id, in characters."""
TITLE_MAX = 1_000
"""Longest title, in characters."""
BODY_MAX = 200_000
"""Longest body, in characters (roughly 30,000 words: far above any news article)."""
SOURCE_MAX = 200
"""Longest source name, in characters."""
LANGUAGE_MAX = 35
"""Longest language tag (BCP 47 allows 35 characters in practice)."""
METADATA_MAX_BYTES = 65_536
"""Largest ``metadata`` object, measured as compact UTF-8 JSON."""
ARTICLE_MAX_BYTES = 1_000_000
CLEANED_HEADER = "newsalert-cleaned"
"""Header (value ``1``) of an ``articles`` record cleaned by ingest, replay or feeds: the matcher
cleans only records without it, so text is never cleaned twice (``&amp;lt;b&amp;gt;`` stays ``&lt;b&gt;``)."""
CLEANED_HEADERS = ((CLEANED_HEADER, b"1"),)
"""Largest encoded article record (one JSON object) that ingest and replay accept."""

_LANGUAGE_PATTERN = r"^[A-Za-z]{2,8}([-_][A-Za-z0-9]{1,8})*$"

_Url = Annotated[str, Field(min_length=1, max_length=URL_MAX), AfterValidator(_no_control_chars)]
_Source = Annotated[str, Field(max_length=SOURCE_MAX), AfterValidator(_no_control_chars)]


class Article(BaseModel):
    """One article. Unknown top-level keys end up in ``metadata``; see the module docstring."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            # Producers may send extra top-level keys: the model moves them under ``metadata``.
            "additionalProperties": True,
            "$comment": "Unknown top-level keys are accepted and stored under metadata.",
        },
    )

    id: Identifier = Field(description="Unique article id; the Kafka key of the articles topic.")
    title: str | None = Field(None, max_length=TITLE_MAX, description="Headline, as published.")
    body: str | None = Field(
        None, max_length=BODY_MAX, description="Full text; may contain HTML, cleaned before matching."
    )
    url: _Url | None = Field(None, description="Where the article can be read.")
    source: _Source | None = Field(None, description="Publisher or feed name.")
    published: UtcDatetime | None = Field(None, description="Publication time (ISO 8601; naive = UTC).")
    language: str | None = Field(
        None, max_length=LANGUAGE_MAX, pattern=_LANGUAGE_PATTERN, description="Language tag, e.g. en, fr, pt-BR."
    )
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="Free-form data; also receives unknown top-level keys."
    )

    @model_validator(mode="before")
    @classmethod
    def _extras_into_metadata(cls, data: Any) -> Any:
        """Move unknown top-level keys under ``metadata`` (a null ``metadata`` counts as empty)."""
        if not isinstance(data, dict):
            return data
        fields = _field_names(cls)
        extras = {key: value for key, value in data.items() if key not in fields}
        metadata = data.get("metadata")
        if metadata is None:
            metadata = {}
        if not extras:
            return {**data, "metadata": metadata}
        if not isinstance(metadata, dict):
            return data  # the field validator reports the bad metadata type
        clashes = sorted(set(extras) & set(metadata))
        if clashes:
            raise ValueError(
                f"key(s) {', '.join(map(repr, clashes))} appear both at the top level and in metadata"
            )
        known = {key: value for key, value in data.items() if key in fields}
        return {**known, "metadata": {**metadata, **extras}}

    @field_validator("metadata")
    @classmethod
    def _metadata_bounded(cls, value: dict[str, Any]) -> dict[str, Any]:
        """Refuse a ``metadata`` object larger than ``METADATA_MAX_BYTES`` once encoded."""
        if not value:
            return value  # {}: encodable, two bytes (most articles; json.dumps is the cost otherwise)
        try:
            size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
        except (TypeError, ValueError) as exc:
            raise ValueError(f"metadata must be JSON-encodable: {exc}") from exc
        if size > METADATA_MAX_BYTES:
            raise ValueError(f"metadata is {size} bytes encoded, more than the limit of {METADATA_MAX_BYTES}")
        return value

    def to_json(self) -> bytes:
        """The compact JSON encoding used as the Kafka record value."""
        return self.model_dump_json().encode()


_FIELD_NAMES: dict[type, frozenset[str]] = {}


def _field_names(model: type[BaseModel]) -> frozenset[str]:
    """The field names of ``model``, computed once: ``model_fields`` is a property that costs
    about a microsecond per access, and ``Article`` validation looked it up for every key."""
    names = _FIELD_NAMES.get(model)
    if names is None:
        names = _FIELD_NAMES[model] = frozenset(model.model_fields)
    return names
