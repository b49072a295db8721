"""Text cleaning, normalisation and tokenisation: the one definition used by ingest, the query
language and the matching engine, so that a query word and an article word meet in the same form.

- ``clean_text``: HTML tags removed (also the scraped debris ``< p class=...>`` / ``< /p>``), entities
  decoded (``AT&amp;T`` -> ``AT&T``), runs of spaces collapsed, paragraph breaks kept as one blank line.
- ``normalise``: NFKC, case-folded, diacritics removed (``Zélensky`` -> ``zelensky``, ``Straße`` -> ``strasse``).
- ``tokens``: maximal runs of Unicode letters or digits, normalised, with their character offsets in
  the text they came from (``Pyongyang's`` -> ``pyongyang``, ``s``; ``F-35`` -> ``f``, ``35``).
"""

from __future__ import annotations

import html
import re
import unicodedata
from itertools import accumulate, compress, repeat
from operator import add
from dataclasses import dataclass
from functools import lru_cache

# A tag: "<" (optionally followed by spaces, as in the scraped "< p class=...>" debris), an optional
# "/", a letter, then anything up to ">". Comments and <!DOCTYPE ...> too. Script and style blocks
# are dropped with their content: their text is never part of the article.
_SCRIPT_STYLE = re.compile(r"<\s*(script|style)\b[^>]*>.*?<\s*/\s*\1\s*>", re.IGNORECASE | re.DOTALL)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_TAG = re.compile(r"<\s*/?\s*[A-Za-z!][^<>]*>")
# Block-level tags become paragraph breaks so that words on both sides do not run together.
_BLOCK_TAG = re.compile(r"<\s*/?\s*(p|div|br|li|ul|ol|h[1-6]|tr|table|section|article|blockquote)\b[^<>]*>", re.IGNORECASE)
# A token is a maximal run of letters, digits or combining marks (the marks keep a decomposed
# "e\u0301" in one token until normalisation removes them).
_TOKEN = re.compile(r"[^\W_]+(?:[\u0300-\u036f]+[^\W_]*)*")
_SPLIT_NORMALISED = re.compile(r"[^\W_]+")


def clean_text(raw: str | None) -> str:
    """Article text as the matcher sees it: no tags, entities decoded, whitespace collapsed.

    Whitespace: within a line, every run of whitespace becomes one space and lines are stripped;
    a run of lines with at least one blank (whitespace-only) line between two text lines becomes
    one blank line; leading and trailing whitespace is dropped.
    """
    if not raw:
        return ""
    text = raw
    if "<" in text:  # no tag, comment or script without one
        text = _SCRIPT_STYLE.sub(" ", text)
        text = _COMMENT.sub(" ", text)
        text = _BLOCK_TAG.sub("\n\n", text)
        text = _TAG.sub(" ", text)
    if "&" in text:
        text = html.unescape(text)
    return _collapse_whitespace(text)


def _collapse_whitespace(text: str) -> str:
    """The whitespace rule of ``clean_text``, with C-level ``split``/``join`` per line.

    ``str.split()`` and the regex ``\\s`` use the same definition of whitespace, so this equals
    the regex formulation (runs of ``[^\\S\\n]`` to a space, ``\\s*\\n\\s*\\n\\s*`` to a blank
    line, `` *\\n *`` to a newline, strip) at a seventh of the cost: per-character regex scans were
    most of the matcher's cleaning time.
    """
    out: list[str] = []
    blank = False
    for line in text.split("\n"):
        words = line.split()
        if not words:
            blank = True
            continue
        if out:
            out.append("\n\n" if blank else "\n")
        out.append(" ".join(words))
        blank = False
    return "".join(out)


@lru_cache(maxsize=200_000)
def normalise(word: str) -> str:
    """NFKC, case-folded, with diacritics removed. Cached: news vocabularies repeat heavily."""
    if word.isascii():
        return word.lower()
    folded = unicodedata.normalize("NFKC", word).casefold()
    decomposed = unicodedata.normalize("NFD", folded)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", stripped)


@dataclass(frozen=True, slots=True)
class Token:
    """One normalised token and the span ``[start, end)`` of its source in the tokenised text."""

    text: str
    start: int
    end: int


# The same token pattern as one capturing group: ``split`` then returns, in one C-level call, the
# separators and the tokens alternately (separator, token, separator, ..., separator), so token
# offsets are running sums of the part lengths. This is ~4x faster than ``finditer`` plus a
# ``Token`` per match, and tokenising is most of the matcher's per-article cost.
_TOKEN_SPLIT = re.compile("(" + _TOKEN.pattern + ")")
# For text whose letters and digits are all ASCII: one byte table that lower-cases letters and turns
# every other byte (punctuation, controls, "_", and the "?" that stands for a non-ASCII character)
# into a space. Tokens are then the words of ``split(" ")``, found by C-level string methods.
_ASCII_TOKEN_BYTES = bytes.maketrans(
    bytes(range(256)),
    bytes(c | 0x20 if 65 <= c <= 90 else c if c < 128 and chr(c).isalnum() else 32 for c in range(256)),
)
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _ascii_tokens_only(text: str) -> bool:
    """True when no non-ASCII character of ``text`` can be part of a token.

    Then every token is ASCII, ``normalise`` of it is its lower case, and the non-ASCII characters
    are separators. True for most English news: its non-ASCII characters are currency signs,
    dashes and quotes.
    """
    if text.isascii():
        return True
    return not any(ch.isalnum() or "\u0300" <= ch <= "\u036f" for ch in set(_NON_ASCII.findall(text)))


class TokenStream:
    """The tokens of one text; their character offsets are computed only when asked for.

    The matcher needs the token strings of every article but the offsets only for highlights, and
    building the two lists of offsets costs more than finding the tokens.
    """

    __slots__ = ("texts", "_pieces", "_starts", "_ends")

    def __init__(self, texts: list[str], pieces: list[str] | None, starts: list[int] | None = None, ends: list[int] | None = None) -> None:
        self.texts = texts
        self._pieces = pieces
        self._starts = starts
        self._ends = ends

    def spans(self) -> tuple[list[int], list[int]]:
        """Start and end offsets of each token (computed on first use)."""
        if self._starts is None or self._ends is None:
            # ``_pieces`` is the translated text split on single spaces: piece j starts after the
            # previous pieces and one space each; the tokens are the non-empty pieces.
            pieces = self._pieces or []
            piece_starts = accumulate(map(add, map(len, pieces), repeat(1)), initial=0)
            self._starts = list(compress(piece_starts, pieces))
            self._ends = list(map(add, self._starts, map(len, self.texts)))
            self._pieces = None
        return self._starts, self._ends


def tokenise(text: str) -> TokenStream:
    """The tokens of ``text`` (as :func:`tokens`), offsets deferred to :meth:`TokenStream.spans`."""
    if _ascii_tokens_only(text):
        # Encoding with ``replace`` keeps one byte per character, so offsets in the translated
        # text are offsets in ``text``; splitting on single spaces leaves empty pieces between
        # consecutive separators. All C-level: no regex, no Python loop.
        pieces = text.encode("ascii", "replace").translate(_ASCII_TOKEN_BYTES).decode("ascii").split(" ")
        return TokenStream(list(filter(None, pieces)), pieces)
    texts, starts, ends = _unicode_token_spans(text)
    return TokenStream(texts, None, starts, ends)


def token_spans(text: str) -> tuple[list[str], list[int], list[int]]:
    """Tokenise ``text`` into three parallel lists: normalised tokens, start offsets, end offsets.

    The same tokens as :func:`tokens`, without one object per token.
    """
    stream = tokenise(text)
    return (stream.texts, *stream.spans())


def _unicode_token_spans(text: str) -> tuple[list[str], list[int], list[int]]:
    """``token_spans`` for text with non-ASCII letters or digits: the full Unicode token pattern."""
    parts = _TOKEN_SPLIT.split(text)
    offsets = list(accumulate(map(len, parts)))
    normalised = list(map(normalise, parts[1::2]))
    if all(map(str.isalnum, normalised)):
        # The usual case: one token per run, tokens and separators alternate in ``parts``.
        return normalised, offsets[0::2][: len(parts) // 2], offsets[1::2]
    texts: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for i, norm in zip(range(1, len(parts), 2), normalised):
        start, end = offsets[i - 1], offsets[i]
        if norm.isalnum():
            texts.append(norm)
            starts.append(start)
            ends.append(end)
            continue
        for part in _SPLIT_NORMALISED.findall(norm):
            texts.append(part)
            starts.append(start)
            ends.append(end)
    return texts, starts, ends


def tokens(text: str) -> list[Token]:
    """Tokenise ``text``: normalised tokens with their character offsets in ``text``.

    A run whose normalised form splits further (NFKC turns ``½`` into ``1⁄2``) yields several
    tokens that share the run's span.
    """
    texts, starts, ends = token_spans(text)
    return [Token(t, s, e) for t, s, e in zip(texts, starts, ends)]


def token_texts(text: str) -> list[str]:
    """Only the normalised token strings of ``text`` (the query side needs no offsets)."""
    return tokenise(text).texts
