"""Text cleaning, normalisation and tokenisation: the one definition used by ingest, the query
language and the matching engine, so that a query word and an article word meet in the same form.

- ``clean_text``: HTML tags removed (also the scraped debris ``< p class=...>`` / ``< /p>``), entities
  decoded (``AT&amp;T`` -> ``AT&T``), runs of spaces collapsed, paragraph breaks kept as one blank line.
- ``normalise``: NFKC, case-folded, diacritics removed (``Zélensky`` -> ``zelensky``, ``Straße`` -> ``strasse``).
- ``tokens``: maximal runs of Unicode letters or digits, normalised, with their character offsets in
  the text they came from (``Pyongyang's`` -> ``pyongyang``, ``s``; ``F-35`` -> ``f``, ``35``), with
  two refinements:

  - every Han ideograph, Hiragana or Katakana character is a token of its own (these scripts are
    written without spaces, so a word is a run of one-character tokens: ``北朝鮮`` -> ``北``, ``朝``,
    ``鮮``; ``G7サミット`` -> ``g7``, ``サ``, ``ミ``, ``ッ``, ``ト``);
  - names written with symbols stay whole: letters or digits joined by ``&`` (``AT&T``, ``S&P``)
    and ``+``/``#`` directly after a word and not followed by a letter or digit (``C++``, ``C#``).
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
# Han ideographs (with the iteration marks 々〆〇), Hiragana and Katakana (full and half width,
# the prolonged sound mark included): each character is one token.
CJK_CHARS = (
    "\u3005-\u3007\u3041-\u3096\u309d-\u309f\u30a1-\u30fa\u30fc-\u30ff\u31f0-\u31ff"
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9d\U00020000-\U0003134f"
)
# Voiced-sound marks that belong to the kana before them (combining, or half width).
_KANA_MARKS = "\u3099\u309a\uff9e\uff9f"
# A word is a maximal run of letters, digits or combining marks other than the one-character
# scripts (the marks keep a decomposed "e\u0301" in one token until normalisation removes them).
_WORD = rf"[^\W_{CJK_CHARS}]+(?:[\u0300-\u036f]+[^\W_{CJK_CHARS}]*)*"
# A token: one CJK character, or words joined by "&" with a run of "+"/"#" after them that no
# letter or digit follows.
_TOKEN = re.compile(rf"[{CJK_CHARS}][{_KANA_MARKS}]*|{_WORD}(?:&{_WORD})*(?:[+#]+(?![+#]|[^\W_]))?")
_CJK = re.compile(f"[{CJK_CHARS}]")
_SYMBOLS = frozenset("&+#")


def clean_text(raw: str | None) -> str:
    """Article text as the matcher sees it: no tags, entities decoded, whitespace collapsed.

    Whitespace: within a line, every run of whitespace becomes one space and lines are stripped;
    a run of lines with at least one blank (whitespace-only) line between two text lines becomes
    one blank line; leading and trailing whitespace is dropped.
    """
    if not raw:
        return ""
    return _collapse_whitespace(strip_markup(raw))


def clean_line(raw: str | None) -> str:
    """``clean_text`` on one line: every run of whitespace, newlines included, becomes one space.

    Equal to ``re.sub(r"\\s+", " ", clean_text(raw)).strip()``: ``clean_text`` keeps the words of
    ``str.split()`` and puts one space, newline or blank line between them, and ``\\s`` is the
    same whitespace as ``str.split``'s. Done directly it is one C-level split and join, several
    times cheaper than collapsing lines and then substituting them away.
    """
    if not raw:
        return ""
    return " ".join(strip_markup(raw).split())


def strip_markup(raw: str) -> str:
    """The first half of ``clean_text``: tags, comments, scripts removed, entities decoded.

    Whitespace is left as it is (the tags of block elements become blank lines).
    """
    text = raw
    if "<" in text:  # no tag, comment or script without one
        text = _SCRIPT_STYLE.sub(" ", text)
        text = _COMMENT.sub(" ", text)
        text = _BLOCK_TAG.sub("\n\n", text)
        text = _TAG.sub(" ", text)
    if "&" in text:
        text = html.unescape(text)
    return text


def _collapse_whitespace(text: str) -> str:
    """The whitespace rule of ``clean_text``, with C-level ``split``/``join`` per line.

    ``str.split()`` and the regex ``\\s`` use the same definition of whitespace, so this equals
    the regex formulation (runs of ``[^\\S\\n]`` to a space, ``\\s*\\n\\s*\\n\\s*`` to a blank
    line, `` *\\n *`` to a newline, strip) at a seventh of the cost: per-character regex scans were
    most of the matcher's cleaning time.

    A line that already is words with single spaces is kept without splitting it into words: the
    usual case, since the matcher cleans again text that ingest cleaned. ``isprintable()`` is
    False for every whitespace character except the space, so it and the space checks (all
    C-level scans, no allocation) prove the split and join would give the line back.
    """
    out: list[str] = []
    blank = False
    for line in text.split("\n"):
        if not (line.isprintable() and "  " not in line and line[:1] != " " and line[-1:] != " "):
            line = " ".join(line.split())
        if not line:
            blank = True
            continue
        if out:
            out.append("\n\n" if blank else "\n")
        out.append(line)
        blank = False
    return "".join(out)


@lru_cache(maxsize=200_000)
def normalise(word: str) -> str:
    """NFKC, case-folded, with diacritics removed. Cached: news vocabularies repeat heavily.

    The voiced-sound marks of kana are not diacritics (``ガ`` and ``カ`` are different sounds): kept.
    """
    if word.isascii():
        return word.lower()
    folded = unicodedata.normalize("NFKC", word).casefold()
    decomposed = unicodedata.normalize("NFD", folded)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch) or ch in _KANA_MARKS)
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
# "&", "+" and "#" are kept, and those that are not part of a token (``_LOOSE_SYMBOLS``) become spaces.
_ASCII_TOKEN_BYTES = bytes.maketrans(
    bytes(range(256)),
    bytes(c | 0x20 if 65 <= c <= 90 else c if c < 128 and (chr(c).isalnum() or chr(c) in "&+#") else 32 for c in range(256)),
)
# In lower-cased ASCII text: an "&" without a letter or digit on both sides, a run of "+"/"#"
# not directly after one, or followed by one. The ASCII form of ``_TOKEN``'s symbol rules.
_SYMBOL_RUN = re.compile(r"[&+#]+")
_LOOSE_SYMBOLS = re.compile(r"(?<![a-z0-9])&|&(?![a-z0-9])|(?<![a-z0-9+#])[+#]+|[+#]+(?=[a-z0-9])")
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
    building the two lists of offsets costs more than finding the tokens. For ASCII tokens the
    offsets of a few tokens can also be found without those lists (:meth:`starts_of`).
    """

    __slots__ = ("texts", "_translated", "_starts", "_ends")

    def __init__(self, texts: list[str], translated: str | None, starts: list[int] | None = None, ends: list[int] | None = None) -> None:
        self.texts = texts
        # ASCII path: the text with tokens lower-cased and every other character a space, same
        # offsets as the text. None when the offsets were computed up front (Unicode path).
        self._translated = translated
        self._starts = starts
        self._ends = ends

    def starts(self) -> list[int]:
        """Start offset of each token (computed on first use)."""
        if self._starts is None:
            # Split on single spaces, piece j starts after the previous pieces and one space
            # each; the tokens are the non-empty pieces.
            pieces = (self._translated or "").split(" ")
            piece_starts = accumulate(map(add, map(len, pieces), repeat(1)), initial=0)
            self._starts = list(compress(piece_starts, pieces))
        return self._starts

    def starts_of(self, indices: list[int], chars_before: list[int]) -> list[int]:
        """Start offsets of the tokens ``indices`` (ascending); ``chars_before[k]`` is the total
        length of the tokens before token ``indices[k]``.

        Without the list of all offsets (ASCII tokens, not asked for yet), they are found in the
        translated text by one forward scan of C-level ``count`` calls (``_find_token_starts``),
        which for the few tokens a highlight needs is cheaper than the offsets of the whole field.
        """
        if self._starts is not None or self._translated is None:
            starts = self.starts()
            return [starts[i] for i in indices]
        return _find_token_starts(self._translated, self.texts, indices, chars_before)

    def ends_of(self, indices: list[int], starts: list[int]) -> list[int]:
        """End offsets of the tokens ``indices``, which start at ``starts``."""
        if self._ends is not None:
            return [self._ends[i] for i in indices]
        # ASCII tokens: a token is as long as its source text.
        return list(map(add, starts, map(len, map(self.texts.__getitem__, indices))))

    def end(self, index: int) -> int:
        """End offset of token ``index`` (without a list of all ends for ASCII tokens)."""
        if self._ends is not None:
            return self._ends[index]
        return self.starts()[index] + len(self.texts[index])

    def spans(self) -> tuple[list[int], list[int]]:
        """Start and end offsets of each token (computed on first use)."""
        starts = self.starts()
        if self._ends is None:
            self._ends = list(map(add, starts, map(len, self.texts)))
        return starts, self._ends


def _find_token_starts(translated: str, texts: list[str], indices: list[int], chars_before: list[int]) -> list[int]:
    """Where tokens ``indices`` (ascending) start in ``translated``: tokens separated by spaces.

    Token i is preceded by ``chars_before`` token characters and by spaces, at least one before
    each earlier token but the first. So it starts at or after ``p = chars_before + i``; while
    ``translated[:p]`` holds fewer token characters than that, the missing ones are at least as
    many positions further on, and ``p`` moves there (counting the spaces skipped). Once the
    count is right only spaces remain before the token, and ``find`` of its text from ``p``
    lands on it. ``p`` and its space count carry over to the next token: one scan for all.
    """
    out = []
    count = translated.count
    p = spaces = 0  # translated[:p] holds ``spaces`` spaces
    for i, before in zip(indices, chars_before):
        low = before + i
        if low > p:
            spaces += count(" ", p, low)
            p = low
        while before + spaces > p:  # fewer than ``before`` token characters in translated[:p]
            nxt = before + spaces
            spaces += count(" ", p, nxt)
            p = nxt
        out.append(translated.find(texts[i], p))
    return out


def tokenise(text: str) -> TokenStream:
    """The tokens of ``text`` (as :func:`tokens`), offsets deferred to :meth:`TokenStream.spans`."""
    if _ascii_tokens_only(text):
        # Encoding with ``replace`` keeps one byte per character, so offsets in the translated
        # text are offsets in ``text``; splitting on single spaces leaves empty pieces between
        # consecutive separators. All C-level: no regex, no Python loop.
        translated = text.encode("ascii", "replace").translate(_ASCII_TOKEN_BYTES).decode("ascii")
        if "&" in translated or "+" in translated or "#" in translated:
            translated = _drop_loose_symbols(translated)
        return TokenStream(list(filter(None, translated.split(" "))), translated)
    texts, starts, ends = _unicode_token_spans(text)
    return TokenStream(texts, None, starts, ends)


def _spaces(match: re.Match) -> str:
    """As many spaces as ``match`` has characters (offsets stay those of the text)."""
    return " " * (match.end() - match.start())


def _drop_loose_symbols(translated: str) -> str:
    """``_LOOSE_SYMBOLS`` replaced by spaces, looking only around the runs of symbols.

    The runs are found by a pattern that starts with a character set (a fast C scan); each is
    judged with one character of context on both sides, all that the rules look at. Substituting
    over the whole text instead tries the lookbehinds at every character: a seventh of the cost of
    tokenising an article.
    """
    out: list[str] = []
    done = 0
    for run in _SYMBOL_RUN.finditer(translated):
        start, end = run.span()
        low = max(start - 1, 0)
        window = translated[low : end + 1]
        fixed = _LOOSE_SYMBOLS.sub(_spaces, window)
        if fixed != window:  # the context characters are no symbols: only the run changed
            out += (translated[done:start], fixed[start - low : end - low])
            done = end
    if not out:
        return translated
    out.append(translated[done:])
    return "".join(out)


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
    if all(map(str.isalnum, normalised)) and not _CJK.search(text):
        # The usual case: one token per run, tokens and separators alternate in ``parts``.
        return normalised, offsets[0::2][: len(parts) // 2], offsets[1::2]
    texts: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for i, norm in zip(range(1, len(parts), 2), normalised):
        start, end = offsets[i - 1], offsets[i]
        if norm.isalnum() and (len(norm) == 1 or not _CJK.search(norm)):
            texts.append(norm)
            starts.append(start)
            ends.append(end)
            continue
        for part in _TOKEN.findall(norm):
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
