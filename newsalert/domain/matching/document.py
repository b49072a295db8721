"""An article made ready for matching: each field cleaned once and tokenised once.

The matcher looks at three fields, ``title``, ``body`` and ``source``. For each it keeps the cleaned
text (highlight offsets point into it), the normalised tokens with their character spans, and the
*haystack*: the tokens joined by single spaces with a space at both ends. A whole-word pattern is
then `` north korea `` and a prefix pattern `` missile``, so one Aho-Corasick pass over the haystack
finds every rule term at token boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import accumulate

from newsalert.domain.query.ast import Field
from newsalert.domain.text import clean_text, token_spans

_PLUS_ONE = (1).__add__

# The order fields are scanned and highlights are sorted in: as an article is read.
FIELD_ORDER: tuple[Field, ...] = ("title", "body", "source")


@dataclass(slots=True)
class FieldText:
    """One cleaned field: its text, tokens (with character spans in ``text``) and haystack."""

    text: str
    tokens: list[str]
    starts: list[int]
    ends: list[int]
    haystack: str
    _hay_starts: list[int] | None = field(default=None, repr=False)

    def hay_starts(self) -> list[int]:
        """Offset in ``haystack`` of the space before each token, ascending (built on first use).

        The space before token i is at i + (length of tokens 0..i-1): running sums of
        ``len(token) + 1``, all computed in C by ``accumulate`` and ``map``.
        """
        if self._hay_starts is None:
            self._hay_starts = list(accumulate(map(_PLUS_ONE, map(len, self.tokens)), initial=0))
        return self._hay_starts


@dataclass(slots=True)
class Document:
    """An article as the engine sees it: the three fields, each prepared once."""

    title: FieldText
    body: FieldText
    source: FieldText

    def field(self, name: str) -> FieldText:
        """The field called ``name`` (``title``, ``body`` or ``source``)."""
        return getattr(self, name)


def prepare_field(raw: str | None, cleaned: bool = False) -> FieldText:
    """Clean (unless ``cleaned``), tokenise and build the haystack of one field."""
    text = (raw or "") if cleaned else clean_text(raw)
    toks, starts, ends = token_spans(text)
    haystack = " " + " ".join(toks) + " " if toks else ""
    return FieldText(text, toks, starts, ends, haystack)


def prepare(title: str | None, body: str | None, source: str | None = None, *, cleaned: bool = False) -> Document:
    """Prepare an article for :meth:`Engine.match`: clean and tokenise each field exactly once.

    Pass ``cleaned=True`` when title and body already are ``clean_text`` output (an article from
    ``newsalert.domain.articles.parse_article``): cleaning is not idempotent (``&amp;lt;b&amp;gt;``
    decodes to ``&lt;b&gt;`` once and to a tag the second time), and highlight offsets must point
    into the text the alert carries. The source is always cleaned (the article model keeps it raw).
    """
    return Document(prepare_field(title, cleaned), prepare_field(body, cleaned), prepare_field(source))
