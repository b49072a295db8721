"""The matching engine: which rules match an article, with highlights, at a cost that does not
grow with the number of rules.

Per article (:meth:`Engine.match`):

1. the article was cleaned and tokenised once by :func:`~newsalert.domain.matching.document.prepare`;
2. one Aho-Corasick pass per field over the token haystack finds which of all the rules' distinct
   terms occur (:class:`~newsalert.domain.matching.terms.ArticleState`);
3. the presearcher index maps the terms found to the candidate rules: those with at least one
   anchor term present (:mod:`~newsalert.domain.matching.presearch`);
4. only the candidates are evaluated, exactly, on the shared term lookups
   (:mod:`~newsalert.domain.matching.program`), and reported in rule-file order.

Highlights are the occurrences of the positive terms that made the rule match (see
:mod:`~newsalert.domain.matching.program`), as character offsets into the cleaned field text,
deduplicated, sorted by field (title, body, source) then by start and end. Overlapping highlights
(``"North Korea"`` and ``Korea`` in one rule) are all kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from newsalert.domain.matching.document import FIELD_ORDER, Document
from newsalert.domain.matching.presearch import TermCost, anchors, estimated_frequency
from newsalert.domain.matching.program import Program, compile_node
from newsalert.domain.matching.terms import ArticleState, HighlightKey, TermTable
from newsalert.domain.query.ast import And, Near, Node, Not, Or, Term

class RuleLike(Protocol):
    """What the engine needs of a rule (``rulefile.CompiledRule`` has it)."""

    id: str
    query: str
    node: Node


@dataclass(frozen=True, slots=True)
class Highlight:
    """A matched word or phrase: ``text == cleaned_field_text[start:end]``."""

    field: str
    text: str
    start: int
    end: int

    def to_dict(self) -> dict[str, Any]:
        """The JSON form used by ``newsalert match`` and the alert messages."""
        return {"field": self.field, "text": self.text, "start": self.start, "end": self.end}


@dataclass(frozen=True, slots=True)
class TermReport:
    """For ``--explain``: one term of the query and where it was found (empty when absent)."""

    term: str
    fields: tuple[str, ...]
    negated: bool
    found: tuple[Highlight, ...]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form printed by ``newsalert match --explain``."""
        return {
            "term": self.term,
            "fields": list(self.fields),
            "negated": self.negated,
            "found": [h.to_dict() for h in self.found],
        }


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a rule matched: its query and every term of it with its occurrences."""

    query: str
    terms: tuple[TermReport, ...]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form printed by ``newsalert match --explain``."""
        return {"query": self.query, "terms": [t.to_dict() for t in self.terms]}


@dataclass(slots=True)
class RuleMatch:
    """One rule matching one article."""

    rule_id: str
    highlights: list[Highlight]
    explanation: Explanation | None = field(default=None)


def _to_highlights(doc: Document, keys: set[HighlightKey] | tuple[HighlightKey, ...], cache: dict[HighlightKey, Highlight]) -> list[Highlight]:
    """Highlight keys -> ``Highlight`` objects in key order (field, start, end), one object per
    distinct span and article (``cache``), shared by every rule that highlights it."""
    out = []
    for key in sorted(keys):
        highlight = cache.get(key)
        if highlight is None:
            rank, start, end = key
            name = FIELD_ORDER[rank]
            highlight = cache[key] = Highlight(name, doc.field(name).text[start:end], start, end)
        out.append(highlight)
    return out


def _signed_terms(node: Node, negated: bool = False):
    """Every term of ``node`` with whether it sits under a NOT, left to right."""
    if isinstance(node, Term):
        yield node, negated
    elif isinstance(node, (And, Or)):
        for child in node.children:
            yield from _signed_terms(child, negated)
    elif isinstance(node, Not):
        yield from _signed_terms(node.child, not negated)
    elif isinstance(node, Near):
        yield from _signed_terms(node.left, negated)
        yield from _signed_terms(node.right, negated)


class Engine:
    """Matches prepared articles against a fixed list of rules, compiled once."""

    def __init__(self, rules: Sequence[RuleLike], *, term_cost: TermCost = estimated_frequency) -> None:
        """Compile ``rules``: intern every term, build the automaton and the anchor index.

        ``term_cost`` estimates how common a term is; anchors are picked to minimise it. The
        default needs no corpus (:func:`~newsalert.domain.matching.presearch.estimated_frequency`).
        """
        self.rules: tuple[RuleLike, ...] = tuple(rules)
        self.table = TermTable()
        self._programs: list[Program] = []
        index: dict[int, list[int]] = {}
        for position, rule in enumerate(self.rules):
            self._programs.append(compile_node(rule.node, self.table))
            anchor_ids, _ = anchors(rule.node, self.table, term_cost)
            for tid in anchor_ids:
                index.setdefault(tid, []).append(position)
        self.table.build()
        self._index: dict[int, tuple[int, ...]] = {tid: tuple(ids) for tid, ids in index.items()}

    def candidates(self, state: ArticleState) -> list[int]:
        """Positions (in rule order) of the rules with an anchor term present in the article."""
        found: set[int] = set()
        index = self._index
        for tid in state.present:
            ids = index.get(tid)
            if ids is not None:
                found.update(ids)
        return sorted(found)

    def match(self, doc: Document, explain: bool = False) -> list[RuleMatch]:
        """The rules matching ``doc``, in rule-file order, with highlights (and explanations)."""
        state = ArticleState(self.table, doc)
        out: list[RuleMatch] = []
        cache: dict[HighlightKey, Highlight] = {}
        programs, rules = self._programs, self.rules
        for position in self.candidates(state):
            program = programs[position]
            if not program.matches(state):
                continue
            keys: set[HighlightKey] = set()
            program.highlight(state, keys)
            rule = rules[position]
            explanation = self._explain(rule, state, cache) if explain else None
            out.append(RuleMatch(rule.id, _to_highlights(doc, keys, cache), explanation))
        return out

    def _explain(self, rule: RuleLike, state: ArticleState, cache: dict[HighlightKey, Highlight]) -> Explanation:
        """Every distinct term of ``rule`` (and whether it is negated) with its occurrences."""
        reports: dict[tuple[int, bool], TermReport] = {}
        for term, negated in _signed_terms(rule.node):
            tid = self.table.term_id(term)
            if (tid, negated) in reports:
                continue
            found = tuple(_to_highlights(state.doc, state.keys(tid), cache))
            reports[(tid, negated)] = TermReport(term.text or " ".join(term.tokens), term.fields, negated, found)
        return Explanation(rule.query, tuple(reports.values()))
