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
from itertools import accumulate, chain, repeat
from operator import add, and_, itemgetter, lshift, rshift, sub

from newsalert.domain.matching.document import FIELD_ORDER, Document
from newsalert.domain.matching.highlights import FIELD_RANK, Highlight, HighlightKey, make_highlight
from newsalert.domain.query.ast import Term

TermKey = tuple[tuple[str, ...], bool, "str | None"]
# One occurrence of a term: (field, first token index, one past the last token index).
Span = tuple[str, int, int]
# A hit from the automaton is (end offset, pattern id).
_END = itemgetter(0)
_PID = itemgetter(1)
# Haystack offsets fit in 32 bits (a field is far shorter than 4 billion characters).
_OFFSET_BITS = 32
_OFFSET_MASK = (1 << _OFFSET_BITS) - 1


def pattern_of(tokens: tuple[str, ...], prefix: bool) -> str:
    """The haystack pattern of a term: space-delimited tokens, open at the end for a wildcard."""
    return " " + " ".join(tokens) + ("" if prefix else " ")


class TermTable:
    """Interns terms and patterns while rules are compiled, and keeps the automaton that finds them."""

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
        self.pattern_lead: list[int] = []  # pattern id -> from its first space to the space before its last token
        # field -> pattern id -> ids of the terms that this pattern, found in this field, makes present
        self.field_terms: dict[str, list[tuple[int, ...]]] = {f: [] for f in FIELD_ORDER}
        self.automaton: ahocorasick.Automaton | None = None
        self._built = 0  # patterns [0, _built) are in the automaton

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
            self.pattern_lead.append(sum(len(token) + 1 for token in term.tokens[:-1]))
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
        """Make the automaton find every pattern interned so far.

        After the first build only the patterns interned since are added, and the automaton's
        failure links are made again (a C-level pass: about 20 ms for 28,000 patterns), so adding
        a rule does not re-intern or recompile the others. Patterns of removed rules stay: finding
        them costs a few hits, and no program is indexed under their terms.
        """
        if self._built == len(self.pattern_chars):
            return
        automaton = self.automaton or ahocorasick.Automaton(ahocorasick.STORE_INTS)
        patterns = list(self._pattern_ids)  # in pattern id order (dicts keep insertion order)
        for pid in range(self._built, len(patterns)):
            automaton.add_word(patterns[pid], pid)
        automaton.make_automaton()
        self.automaton = automaton
        self._built = len(patterns)


class ArticleState:
    """What the automaton found in one article, shared by every rule evaluated on it.

    Token positions are only needed for NEAR and highlights, and only for the few patterns
    involved: they are computed per (field, pattern) on first use, with C-level ``map``,
    ``sorted`` and ``str.count`` rather than a Python loop per hit, and without offsets for the
    tokens of the field that no highlight needs (an article has hundreds of hits at 100,000
    rules, a match a handful of highlights).
    """

    __slots__ = ("doc", "table", "present", "highlights", "_hits", "_located", "_positions", "_spans", "_keys")

    def __init__(self, table: TermTable, doc: Document) -> None:
        self.doc = doc
        self.table = table
        self.present: set[int] = set()
        # Highlight key -> its Highlight, one per distinct span of this article.
        self.highlights: dict[HighlightKey, Highlight] = {}
        self._hits: dict[str, list[tuple[int, int]]] = {}
        self._located: dict[str, tuple[list[int], list[int]]] = {}
        self._positions: dict[tuple[str, int], tuple[list[int], list[int]]] = {}
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
        pattern ids and the haystack offset where each hit starts (computed on first use)."""
        located = self._located.get(name)
        if located is None:
            hits = self._hits.get(name, [])
            pids = list(map(_PID, hits))
            # A hit ends at ``end``; it starts ``chars - 1`` earlier, on the space before a token.
            firsts = map(sub, map(_END, hits), map(self.table.pattern_back.__getitem__, pids))
            # Sorted by (pattern id, offset) as one int each: sorting ints is several times faster
            # than sorting tuples, and splitting them again is two C-level maps.
            ordered = sorted(map(add, map(lshift, pids, repeat(_OFFSET_BITS)), firsts))
            located = self._located[name] = (
                list(map(rshift, ordered, repeat(_OFFSET_BITS))),
                list(map(and_, ordered, repeat(_OFFSET_MASK))),
            )
        return located

    def _hit_positions(self, name: str, pid: int) -> tuple[list[int], list[int]]:
        """The hits of pattern ``pid`` in field ``name``, ascending: the haystack offset where each
        starts (the space before its first token) and the index of that token (cached)."""
        key = (name, pid)
        found = self._positions.get(key)
        if found is None:
            pids, firsts = self._located_hits(name)
            low = bisect_left(pids, pid)
            offsets = firsts[low:bisect_right(pids, pid, low)]
            # The haystack has one space before each token, so the spaces before a hit number the
            # tokens before it: counted in C from one hit to the next, one scan per pattern.
            count = self.doc.field(name).haystack.count
            tokens = list(accumulate(map(count, repeat(" "), chain((0,), offsets), offsets)))
            found = self._positions[key] = (offsets, tokens)
        return found

    def _hit_keys(self, name: str, pid: int) -> list[HighlightKey]:
        """The highlight key of each hit of pattern ``pid`` in field ``name``.

        Character offsets come from the tokens' haystack offsets (``TokenStream.starts_of``):
        a token at haystack offset ``o`` with index ``t`` has ``o - t`` token characters before it.
        """
        offsets, tokens = self._hit_positions(name, pid)
        if not tokens:
            return []
        stream = self.doc.field(name).stream
        starts = stream.starts_of(tokens, list(map(sub, offsets, tokens)))
        last = self.table.pattern_last[pid]
        if last:  # a phrase: it ends where its last token ends
            lasts = [t + last for t in tokens]
            lead = self.table.pattern_lead[pid]
            ends = stream.ends_of(lasts, stream.starts_of(lasts, [o + lead - t for o, t in zip(offsets, lasts)]))
        else:
            ends = stream.ends_of(tokens, starts)
        return list(zip(repeat(FIELD_RANK[name]), starts, ends))

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
                        tokens = self._hit_positions(name, pid)[1]
                        if tokens:
                            found[name] = [(s, s + width) for s in tokens]
            self._spans[tid] = found
        return found

    def occurrences(self, tid: int) -> list[Span]:
        """Every occurrence of term ``tid`` as ``(field, start token, end token)``."""
        return [(name, s, e) for name, spans in self.spans(tid).items() for s, e in spans]

    def span_key(self, name: str, first: int, stop: int) -> HighlightKey:
        """The highlight key of tokens ``first`` to ``stop - 1`` of field ``name``."""
        text = self.doc.field(name)
        return (FIELD_RANK[name], text.starts[first], text.end(stop - 1))

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
                        found += self._hit_keys(name, pid)
            self._keys[tid] = found
        return found

    def highlight(self, key: HighlightKey) -> Highlight:
        """The article's one ``Highlight`` for ``key``."""
        found = self.highlights.get(key)
        if found is None:
            found = self.highlights[key] = make_highlight(self.doc, key)
        return found
