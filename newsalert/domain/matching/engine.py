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
from itertools import chain
from operator import itemgetter
from dataclasses import dataclass, field
from typing import Any, Protocol

from newsalert.domain.matching.document import Document
from newsalert.domain.matching.highlights import Highlight, HighlightKey
from newsalert.domain.matching.presearch import TermCost, estimated_frequency, plan
from newsalert.domain.matching.program import Program, compile_node
from newsalert.domain.matching.terms import ArticleState, TermTable
from newsalert.domain.query.ast import And, Near, Node, Not, Or, Term

class RuleLike(Protocol):
    """What the engine needs of a rule (``rulefile.CompiledRule`` has it).

    ``node`` must be the parse of ``query`` (rules with the same query text share one compiled
    program); hand-built rules may leave ``query`` empty.
    """

    id: str
    query: str
    node: Node


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


_POSITION = itemgetter(0)


def _to_highlights(state: ArticleState, keys: set[HighlightKey] | list[HighlightKey]) -> list[Highlight]:
    """Highlight keys -> the article's shared ``Highlight`` objects, sorted (field, start, end)."""
    return [state.highlight(key) for key in sorted(keys)]


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
        self.table = TermTable(term_cost)
        # Identical queries (many subscribers watch "Prime Minister") are compiled, indexed and
        # evaluated once; every rule using one is reported. The key is the query text (a rule's
        # node is what the parser made of it; hashing the text is much cheaper than hashing the
        # tree), or the node itself for hand-built rules without text.
        self._programs: list[Program] = []
        self._program_rules: list[list[int]] = []
        program_of: dict[object, int] = {}
        single: dict[int, list[int]] = {}
        pairs: dict[int, dict[int, list[int]]] = {}
        for position, rule in enumerate(self.rules):
            key = rule.query or rule.node
            known = program_of.get(key)
            if known is not None:
                self._program_rules[known].append(position)
                continue
            program_id = program_of[key] = len(self._programs)
            program = compile_node(rule.node, self.table)
            self._programs.append(program)
            self._program_rules.append([position])
            rule_plan = plan(program, self.table.term_cost)
            if rule_plan.second is None:
                for tid in rule_plan.first:
                    single.setdefault(tid, []).append(program_id)
                continue
            for tid in rule_plan.first:
                by_second = pairs.setdefault(tid, {})
                for other in rule_plan.second:
                    by_second.setdefault(other, []).append(program_id)
        self.table.build()
        # Programs that are candidates when this term occurs.
        self._single: dict[int, tuple[int, ...]] = {tid: tuple(ids) for tid, ids in single.items()}
        # Programs that are candidates when this term and the second key's term both occur.
        self._pairs: dict[int, dict[int, tuple[int, ...]]] = {
            tid: {other: tuple(ids) for other, ids in by_second.items()} for tid, by_second in pairs.items()
        }

    def candidate_programs(self, state: ArticleState) -> set[int]:
        """Ids of the distinct queries (programs) whose index terms occur in the article."""
        present = state.present
        single, pairs = self._single, self._pairs
        # Set intersections and chain/map run in C; the Python loop is over the terms present
        # that head a pair list only.
        found = set(chain.from_iterable(map(single.__getitem__, single.keys() & present)))
        for tid in pairs.keys() & present:
            by_second = pairs[tid]
            both = by_second.keys() & present
            if both:  # usually empty: the second term is what makes pairs selective
                found.update(chain.from_iterable(map(by_second.__getitem__, both)))
        return found

    @property
    def program_count(self) -> int:
        """How many distinct queries were compiled (identical queries share one)."""
        return len(self._programs)

    def candidates(self, state: ArticleState) -> list[int]:
        """Positions (in rule order) of the rules that the presearch selects for the article."""
        rules_of = self._program_rules
        return sorted(chain.from_iterable(rules_of[p] for p in self.candidate_programs(state)))

    def match(self, doc: Document, explain: bool = False) -> list[RuleMatch]:
        """The rules matching ``doc``, in rule-file order, with highlights (and explanations)."""
        state = ArticleState(self.table, doc)
        programs, rules_of = self._programs, self._program_rules
        found: list[tuple[int, list[Highlight]]] = []
        for program_id in self.candidate_programs(state):
            program = programs[program_id]
            if not program.matches(state):
                continue
            keys: set[HighlightKey] = set()
            program.highlight(state, keys)
            highlights = _to_highlights(state, keys)
            found.extend([(position, highlights) for position in rules_of[program_id]])
        found.sort(key=_POSITION)
        rules = self.rules
        return [
            RuleMatch(rules[position].id, list(highlights), self._explain(rules[position], state) if explain else None)
            for position, highlights in found
        ]

    def _explain(self, rule: RuleLike, state: ArticleState) -> Explanation:
        """Every distinct term of ``rule`` (and whether it is negated) with its occurrences."""
        reports: dict[tuple[int, bool], TermReport] = {}
        for term, negated in _signed_terms(rule.node):
            tid = self.table.term_id(term)
            if (tid, negated) in reports:
                continue
            found = tuple(_to_highlights(state, state.keys(tid)))
            reports[(tid, negated)] = TermReport(term.text or " ".join(term.tokens), term.fields, negated, found)
        return Explanation(rule.query, tuple(reports.values()))
