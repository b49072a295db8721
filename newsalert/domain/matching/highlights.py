"""Highlights: the matched words and phrases of an article, as character offsets in the cleaned
field text.

Inside the engine a highlight is a *key*, ``(field rank, start, end)``: a plain tuple, so that
deduplicating (a set) and sorting (by field in :data:`FIELD_ORDER`, then start, then end) are C-level
operations. Each distinct key becomes one :class:`Highlight` per article, shared by every rule that
highlights it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from newsalert.domain.matching.document import FIELD_ORDER, Document

HighlightKey = tuple[int, int, int]
FIELD_RANK = {name: rank for rank, name in enumerate(FIELD_ORDER)}


@dataclass(slots=True)
class Highlight:
    """A matched word or phrase: ``text == cleaned_field_text[start:end]``.

    Shared between the matches of one article: treat as read-only. (Not frozen: a frozen
    dataclass is three times slower to create, and articles have hundreds of highlights.)
    """

    field: str
    text: str
    start: int
    end: int

    def to_dict(self) -> dict[str, Any]:
        """The JSON form used by ``newsalert match`` and the alert messages."""
        return {"field": self.field, "text": self.text, "start": self.start, "end": self.end}


def make_highlight(doc: Document, key: HighlightKey) -> Highlight:
    """The ``Highlight`` of ``key`` in ``doc``."""
    rank, start, end = key
    name = FIELD_ORDER[rank]
    return Highlight(name, doc.field(name).text[start:end], start, end)
