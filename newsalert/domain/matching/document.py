"""An article made ready for matching: each field cleaned once and tokenised once.

The matcher looks at three fields, ``title``, ``body`` and ``source``. For each it keeps the cleaned
text (highlight offsets point into it), the normalised tokens with their character spans, and the
*haystack*: the tokens joined by single spaces with a space at both ends. A whole-word pattern is
then `` north korea `` and a prefix pattern `` missile``, so one Aho-Corasick pass over the haystack
finds every rule term at token boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from newsalert.domain.query.ast import Field
from newsalert.domain.text import TokenStream, clean_text, tokenise

# The order fields are scanned and highlights are sorted in: as an article is read.
FIELD_ORDER: tuple[Field, ...] = ("title", "body", "source")


@dataclass(slots=True)
class FieldText:
    """One cleaned field: its text, tokens (with character spans in ``text``) and haystack."""

    text: str
    tokens: list[str]
    haystack: str
    stream: TokenStream = field(repr=False)

    @property
    def starts(self) -> list[int]:
        """Character offset in ``text`` where each token starts (computed on first use)."""
        return self.stream.starts()

    @property
    def ends(self) -> list[int]:
        """Character offset in ``text`` where each token ends (computed on first use)."""
        return self.stream.spans()[1]

    def end(self, index: int) -> int:
        """Character offset in ``text`` where token ``index`` ends (without a list of all ends)."""
        return self.stream.end(index)


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
    stream = tokenise(text)
    toks = stream.texts
    haystack = " " + " ".join(toks) + " " if toks else ""
    return FieldText(text, toks, haystack, stream)


def prepare(title: str | None, body: str | None, source: str | None = None, *, cleaned: bool = False) -> Document:
    """Prepare an article for :meth:`Engine.match`: clean and tokenise each field exactly once.

    Pass ``cleaned=True`` when title and body already are ``clean_text`` output (an article from
    ``newsalert.domain.articles.parse_article``): cleaning is not idempotent (``&amp;lt;b&amp;gt;``
    decodes to ``&lt;b&gt;`` once and to a tag the second time), and highlight offsets must point
    into the text the alert carries. The source is always cleaned (the article model keeps it raw).
    """
    return Document(prepare_field(title, cleaned), prepare_field(body, cleaned), prepare_field(source))
