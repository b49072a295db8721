"""Building blocks shared by the wire models: bounded string types, UTC timestamps, error text.

Every wire model is strict about what it accepts (``extra="forbid"`` unless the model says
otherwise) and bounded in size, so one bad producer cannot push unbounded data through the
pipeline. Validation errors are pydantic's, whose ``loc`` names the field; ``error_messages``
turns them into one ``field.path: message`` line each for HTTP answers and logs.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, Field, ValidationError

# C0 controls, DEL and C1 controls: never allowed in identifiers (they break logs and headers).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

# Identifier lengths shared by articles, rules and subscribers on the wire.
ID_MAX = 256
URL_MAX = 2_048

WIRE_CONFIG = ConfigDict(extra="forbid", populate_by_name=True)


def _no_control_chars(value: str) -> str:
    """Refuse control characters, naming the first one and where it is."""
    found = _CONTROL.search(value)
    if found:
        raise ValueError(f"control character {found.group()!r} at position {found.start()} is not allowed")
    return value


def _not_blank(value: str) -> str:
    """Refuse a value made only of whitespace."""
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _as_utc(value: datetime) -> datetime:
    """Timestamps on the wire are UTC; a naive timestamp is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


Identifier = Annotated[
    str, Field(min_length=1, max_length=ID_MAX), AfterValidator(_not_blank), AfterValidator(_no_control_chars)
]
"""A non-blank id of at most ``ID_MAX`` characters without control characters."""

UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]
"""An ISO-8601 timestamp, normalised to UTC (a naive one is read as UTC)."""


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


def truncate(text: str, limit: int, marker: str = "…") -> str:
    """``text`` cut to at most ``limit`` characters, ending with ``marker`` when it was cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(marker))] + marker


def error_messages(exc: ValidationError) -> list[str]:
    """One ``field.path: message`` line per validation error (``<root>`` for the whole record)."""
    lines = []
    for err in exc.errors(include_url=False):
        path = ".".join(str(part) for part in err["loc"]) or "<root>"
        lines.append(f"{path}: {err['msg']}")
    return lines
