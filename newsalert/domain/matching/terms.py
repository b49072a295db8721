"""The distinct terms of all rules, and the one Aho-Corasick automaton that finds them.

A *term* is a word, phrase or wildcard in a field spec (``title``, ``body``, ``source`` or the
default title-or-body); it gets a small integer id, shared by every rule that uses it. A *pattern*
is what the automaton looks for in a field's haystack (see :mod:`.document`): `` north korea `` for
a phrase, `` missile`` for ``missile*``. Terms that differ only in their field share one pattern, so
each field is scanned once whatever the number of rules.

:class:`ArticleState` holds what one scan found for one article: the set of term ids present
(enough to evaluate AND/OR/NOT) and, computed only when asked (NEAR, highlights), their token spans.
"""

from __future__ import annotations

import ahocorasick

from bisect import bisect_left, bisect_right
from collections.abc import Callable
from itertools import chain, repeat
from operator import add, and_, itemgetter, lshift, rshift, sub

from newsalert.domain.matching.document import FIELD_ORDER, Document
from newsalert.domain.matching.highlights import FIELD_RANK, Highlight, HighlightKey, make_highlight
from newsalert.domain.query.ast import Term

TermKey = tuple[tuple[str, ...], bool, "Field | None"]
# One occurrence of a term: (field, first token index, one past the last token index).
Span = tuple[str, int, int]
# A hit from the automaton is (end offset, pattern id).
_END = itemgetter(0)
_PID = itemgetter(1)
# Token indices fit in 32 bits (a field is far shorter than 4 billion tokens).
_TOKEN_BITS = 32
_TOKEN_MASK = (1 << _TOKEN_BITS) - 1


def pattern_of(tokens: tuple[str, ...], prefix: bool) -> str:
    """The haystack pattern of a term: space-delimited tokens, open at the end for a wildcard."""
    return " " + " ".join(tokens) + ("" if prefix else " ")


class TermTable:
    """Interns terms and patterns while rules are compiled, then builds the automaton once."""

    def __init__(self, cost: Callable[[Term], float]) -> None:
        self._cost = cost
        self.term_cost: list[float] = []  # term id -> estimated share of articles containing it
        self._term_ids: dict[TermKey, int] = {}
        self._pattern_ids: dict[str, int] = {}
        self.term_pattern: list[int] = []  # term id -> pattern id
        self.term_fields: list[tuple[str, ...]] = []  # term id -> fields it is looked for in
        self.terms: list[Term] = []  # term id -> first Term seen (for reports)
        self.pattern_tokens: list[int] = []  # pattern id -> number of tokens it covers
        self.pattern_chars: list[int] = []  # pattern id -> length in characters
        self.pattern_back: list[int] = []  # pattern id -> length - 1: from its last to its first character
        self.pattern_last: list[int] = []  # pattern id -> tokens - 1: from its first to its last token
        # field -> pattern id -> ids of the terms that this pattern, found in this field, makes present
        self.field_terms: dict[str, list[tuple[int, ...]]] = {f: [] for f in FIELD_ORDER}
        self.automaton: ahocorasick.Automaton | None = None

    def __len__(self) -> int:
        return len(self.term_pattern)

    @property
    def pattern_count(self) -> int:
        """How many distinct patterns the automaton holds."""
        return len(self.pattern_chars)

    def intern(self, term: Term) -> int:
        """The id of ``term`` (its tokens, wildcard flag and field), created on first sight."""
        key = (term.tokens, term.prefix, term.field)
        tid = self._term_ids.get(key)
        if tid is not None:
            return tid
        pattern = pattern_of(term.tokens, term.prefix)
        pid = self._pattern_ids.get(pattern)
        if pid is None:
            pid = len(self.pattern_chars)
            self._pattern_ids[pattern] = pid
            self.pattern_tokens.append(len(term.tokens))
            self.pattern_chars.append(len(pattern))
            self.pattern_back.append(len(pattern) - 1)
            self.pattern_last.append(len(term.tokens) - 1)
            for per_field in self.field_terms.values():
                per_field.append(())
        tid = len(self.term_pattern)
        self._term_ids[key] = tid
        self.term_pattern.append(pid)
        self.term_fields.append(term.fields)
        self.terms.append(term)
        self.term_cost.append(self._cost(term))
        for f in term.fields:
            self.field_terms[f][pid] += (tid,)
        return tid

    def term_id(self, term: Term) -> int:
        """The id of a term interned while compiling (KeyError for an unknown term)."""
        return self._term_ids[(term.tokens, term.prefix, term.field)]

    def build(self) -> None:
        """Build the automaton over every pattern interned so far (once, after all rules)."""
        automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
        for pattern, pid in self._pattern_ids.items():
            automaton.add_word(pattern, pid)
        if self._pattern_ids:
            automaton.make_automaton()
            self.automaton = automaton
        # The interning dictionaries are only needed while compiling.
        self._pattern_ids = {}


class ArticleState:
    """What the automaton found in one article, shared by every rule evaluated on it.

    Token positions are only needed for NEAR and highlights; they are computed for a whole field
    at once, on first use, with C-level ``map``/``sorted``/``bisect`` rather than a Python loop
    per hit (an article has hundreds of hits at 100,000 rules).
    """

    __slots__ = ("doc", "table", "present", "highlights", "_hits", "_located", "_hit_keys_cache", "_spans", "_keys")

    def __init__(self, table: TermTable, doc: Document) -> None:
        self.doc = doc
        self.table = table
        self.present: set[int] = set()
        # Highlight key -> its Highlight, one per distinct span of this article.
        self.highlights: dict[HighlightKey, Highlight] = {}
        self._hits: dict[str, list[tuple[int, int]]] = {}
        self._located: dict[str, tuple[list[int], list[int]]] = {}
        self._hit_keys_cache: dict[str, list[HighlightKey]] = {}
        self._spans: dict[int, dict[str, list[tuple[int, int]]]] = {}
        self._keys: dict[int, list[HighlightKey]] = {}
        automaton = table.automaton
        if automaton is None:
            return
        present = self.present
        for name in FIELD_ORDER:
            haystack = doc.field(name).haystack
            if not haystack:
                continue
            # One C-level pass; overlapping matches are all reported, which phrases sharing
            # tokens ("north korea" and "korea") need.
            hits = list(automaton.iter(haystack))
            if not hits:
                continue
            self._hits[name] = hits
            by_pattern = table.field_terms[name]
            present.update(chain.from_iterable(map(by_pattern.__getitem__, set(map(_PID, hits)))))

    def _located_hits(self, name: str) -> tuple[list[int], list[int]]:
        """Every hit of field ``name`` as two parallel lists sorted by (pattern id, position): the
        pattern ids and the token index where each hit starts (computed on first use)."""
        located = self._located.get(name)
        if located is None:
            hits = self._hits.get(name, [])
            pids = list(map(_PID, hits))
            # A hit ends at ``end``; it starts ``chars - 1`` earlier, on the space before a token.
            firsts = map(sub, map(_END, hits), map(self.table.pattern_back.__getitem__, pids))
            tokens = map(bisect_left, repeat(self.doc.field(name).hay_starts()), firsts)
            # Sorted by (pattern id, token) as one int each: sorting ints is several times faster
            # than sorting tuples, and splitting them again is two C-level maps.
            ordered = sorted(map(add, map(lshift, pids, repeat(_TOKEN_BITS)), tokens))
            located = self._located[name] = (
                list(map(rshift, ordered, repeat(_TOKEN_BITS))),
                list(map(and_, ordered, repeat(_TOKEN_MASK))),
            )
        return located

    def _hit_keys(self, name: str) -> list[HighlightKey]:
        """The highlight key of every located hit of field ``name``, same order, built in C."""
        keys = self._hit_keys_cache.get(name)
        if keys is None:
            pids, firsts = self._located_hits(name)
            text = self.doc.field(name)
            lasts = map(add, firsts, map(self.table.pattern_last.__getitem__, pids))
            keys = list(zip(repeat(FIELD_RANK[name]), map(text.starts.__getitem__, firsts), map(text.ends.__getitem__, lasts)))
            self._hit_keys_cache[name] = keys
        return keys

    def _hit_range(self, name: str, pid: int) -> tuple[int, int]:
        """Where pattern ``pid``'s hits are in field ``name``'s located lists."""
        pids = self._located_hits(name)[0]
        low = bisect_left(pids, pid)
        return low, bisect_right(pids, pid, low)

    def spans(self, tid: int) -> dict[str, list[tuple[int, int]]]:
        """Field -> sorted token spans ``(start, end)`` of term ``tid`` in this article."""
        found = self._spans.get(tid)
        if found is None:
            found = {}
            if tid in self.present:
                table = self.table
                pid = table.term_pattern[tid]
                width = table.pattern_tokens[pid]
                for name in table.term_fields[tid]:
                    if name in self._hits:
                        low, high = self._hit_range(name, pid)
                        if low < high:
                            found[name] = [(s, s + width) for s in self._located_hits(name)[1][low:high]]
            self._spans[tid] = found
        return found

    def occurrences(self, tid: int) -> list[Span]:
        """Every occurrence of term ``tid`` as ``(field, start token, end token)``."""
        return [(name, s, e) for name, spans in self.spans(tid).items() for s, e in spans]

    def span_key(self, name: str, first: int, stop: int) -> HighlightKey:
        """The highlight key of tokens ``first`` to ``stop - 1`` of field ``name``."""
        text = self.doc.field(name)
        return (FIELD_RANK[name], text.starts[first], text.ends[stop - 1])

    def keys(self, tid: int) -> list[HighlightKey]:
        """Highlight keys of every occurrence of term ``tid`` (cached: rules share terms)."""
        found = self._keys.get(tid)
        if found is None:
            found = []
            if tid in self.present:
                table = self.table
                pid = table.term_pattern[tid]
                for name in table.term_fields[tid]:
                    if name in self._hits:
                        low, high = self._hit_range(name, pid)
                        if low < high:
                            found += self._hit_keys(name)[low:high]
            self._keys[tid] = found
        return found

    def highlight(self, key: HighlightKey) -> Highlight:
        """The article's one ``Highlight`` for ``key``."""
        found = self.highlights.get(key)
        if found is None:
            found = self.highlights[key] = make_highlight(self.doc, key)
        return found
