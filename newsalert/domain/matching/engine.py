"""The matching engine: which rules match an article, with highlights, at a cost that does not grow
with the number of rules.

Per article: one automaton pass finds the terms present, the presearcher picks the candidate rules,
only those are evaluated exactly. ``Engine.update`` recompiles only the rules that changed. The
steps and the highlight order: ``docs/architecture.md`` ("Matching engine").
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain, count
from operator import attrgetter, is_, itemgetter
from typing import Any, Protocol

from newsalert.domain.gcpause import collector_paused
from newsalert.domain.matching.document import Document
from newsalert.domain.matching.highlights import Highlight, HighlightKey
from newsalert.domain.matching.presearch import PairPlan, TermCost, estimated_frequency, plan
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
    """Matches prepared articles against a list of rules, compiled once and then changed rule by rule.

    :meth:`add`, :meth:`remove` and :meth:`update` change single rules without compiling the
    others again (``docs/rules.md``, live reload). Not thread-safe: change the engine on the
    thread that matches with it, between two articles.
    """

    def __init__(self, rules: Sequence[RuleLike], *, term_cost: TermCost = estimated_frequency) -> None:
        """Compile ``rules``: intern every term, build the automaton and the anchor index.

        ``term_cost`` estimates how common a term is; anchors are picked to minimise it. The
        default needs no corpus (:func:`~newsalert.domain.matching.presearch.estimated_frequency`).
        """
        self.table = TermTable(term_cost)
        # Identical queries (many subscribers watch "Prime Minister") are compiled, indexed and
        # evaluated once; every rule using one is reported. The key is the query text (a rule's
        # node is what the parser made of it; hashing the text is much cheaper than hashing the
        # tree), or the node itself for hand-built rules without text.
        self._programs: list[Program | None] = []  # program id -> program (None: free)
        self._program_key: list[object] = []  # program id -> its key in ``_program_of``
        self._program_plan: list[PairPlan | None] = []  # program id -> how it is indexed
        self._program_rules: list[list[int]] = []  # program id -> slots of the rules using it
        self._program_of: dict[object, int] = {}
        self._free_programs: list[int] = []
        # A rule lives in a slot; ``_rank[slot]`` is its place in rule order (results follow it).
        self._slots: list[RuleLike | None] = []
        self._slot_program: list[int] = []
        self._slot_of: dict[str, int] = {}  # rule id -> slot
        self._key_of: dict[str, object] = {}  # rule id -> its program's key
        self._free_slots: list[int] = []
        self._rank: list[int] = []
        # Programs that are candidates when this term occurs.
        self._single: dict[int, list[int]] = {}
        # Programs that are candidates when this term and the second key's term both occur.
        self._pairs: dict[int, dict[int, list[int]]] = {}
        with collector_paused():  # 100,000 rules make millions of objects that live on
            for rule in rules:
                self._insert(rule)
        self._rank = list(range(len(self._slots)))
        self._order: tuple[RuleLike, ...] = tuple(rules)  # the rules in order, as last given
        self.table.build()

    # --- changing the rules ---------------------------------------------------------------------

    def add(self, rule: RuleLike) -> None:
        """Add one rule, after the others in rule order (its id must be new)."""
        if rule.id in self._slot_of:
            raise ValueError(f"rule {rule.id!r} is already in the engine")
        slot = self._insert(rule)
        self._rank[slot] = max(self._rank) + 1
        self._order = (*self._order, rule)
        self.table.build()

    def remove(self, rule_id: str) -> None:
        """Remove the rule ``rule_id`` (KeyError if there is none)."""
        slot = self._slot_of[rule_id]
        self._order = tuple(rule for rule in self._order if rule is not self._slots[slot])
        self._delete(slot)
        self.table.build()

    def changes(self, rules: Sequence[RuleLike]) -> RuleChanges:
        """What :meth:`update` to ``rules`` would do: ids to remove and rules to add.

        A rule whose id is kept and whose query (or, without query text, node) is the same is
        kept; one with a changed query is removed and added. Ids must be unique, in ``rules`` and
        in the engine (ValueError otherwise). Rules at the start and at the end that are the very
        objects the engine was last given are skipped by C-level identity scans; the rest is
        compared as sets of (id, query) pairs. A change in the last rules (API subscriptions, an
        appended rule) costs a few ms at 100,000 rules.
        """
        old = self._order
        if len(self._slot_of) != len(old):
            raise ValueError("rule ids must be unique to change rules one by one")
        prefix = _same_objects(old, rules)
        suffix = _same_objects(old[::-1], rules[::-1]) if prefix < min(len(old), len(rules)) else 0
        suffix = min(suffix, len(old) - prefix, len(rules) - prefix)
        old_middle = old[prefix : len(old) - suffix]
        new_middle = rules[prefix : len(rules) - suffix]
        ids = list(map(_ID, new_middle))
        new_keys = dict(zip(ids, _keys(new_middle)))
        old_keys = dict(zip(map(_ID, old_middle), _keys(old_middle)))
        # Unique: the unchanged ends are; the middle must be, and must not repeat their ids.
        if len(new_keys) != len(new_middle) or (new_keys.keys() & self._slot_of.keys()) - old_keys.keys():
            raise ValueError("rule ids must be unique to change rules one by one")
        kept = dict(old_keys.items() & new_keys.items())
        by_id = dict(zip(ids, new_middle))
        added = [by_id[rule_id] for rule_id in ids if rule_id not in kept]
        return RuleChanges(list(old_keys.keys() - kept.keys()), added, prefix)

    def update(self, rules: Sequence[RuleLike], changes: RuleChanges | None = None) -> int:
        """Make the engine match ``rules`` (in that order) by removing and adding only the rules
        that differ; returns how many rules were removed or added.

        ``changes`` is :meth:`changes` of ``rules`` when already computed. The result equals a new
        ``Engine(rules)``: same matches, same highlights, same order. Kept rules keep the object
        first given (only id and query matter here).
        """
        if changes is None:
            changes = self.changes(rules)
        for rule_id in changes.removed:
            self._delete(self._slot_of[rule_id])
        for rule in changes.added:
            self._insert(rule)
        # rank[slot of rules[i]] = i from the first rule that may have moved, as C-level maps.
        first = changes.unchanged_prefix
        slots = map(self._slot_of.__getitem__, map(_ID, rules[first:]))
        deque(map(self._rank.__setitem__, slots, count(first)), maxlen=0)
        self._order = tuple(rules)
        if changes:
            self.table.build()
        return len(changes)

    def _insert(self, rule: RuleLike) -> int:
        """Put ``rule`` in a slot and its query in the index (the automaton is built by the caller)."""
        if self._free_slots:
            slot = self._free_slots.pop()
            self._slots[slot] = rule
        else:
            slot = len(self._slots)
            self._slots.append(rule)
            self._slot_program.append(-1)
            self._rank.append(slot)
        self._slot_of[rule.id] = slot
        key = rule.query or rule.node
        self._key_of[rule.id] = key
        program_id = self._program_of.get(key)
        if program_id is None:
            program_id = self._new_program(key, rule.node)
        self._program_rules[program_id].append(slot)
        self._slot_program[slot] = program_id
        return slot

    def _new_program(self, key: object, node: Node) -> int:
        """Compile ``node`` and index it; returns its program id."""
        program = compile_node(node, self.table)
        rule_plan = plan(program, self.table.term_cost)
        if self._free_programs:
            program_id = self._free_programs.pop()
            self._programs[program_id] = program
            self._program_key[program_id] = key
            self._program_plan[program_id] = rule_plan
            self._program_rules[program_id] = []
        else:
            program_id = len(self._programs)
            self._programs.append(program)
            self._program_key.append(key)
            self._program_plan.append(rule_plan)
            self._program_rules.append([])
        self._program_of[key] = program_id
        if rule_plan.second is None:
            for tid in rule_plan.first:
                self._single.setdefault(tid, []).append(program_id)
        else:
            for tid in rule_plan.first:
                by_second = self._pairs.setdefault(tid, {})
                for other in rule_plan.second:
                    by_second.setdefault(other, []).append(program_id)
        return program_id

    def _delete(self, slot: int) -> None:
        """Free ``slot``; its query leaves the index when no other rule uses it."""
        rule = self._slots[slot]
        assert rule is not None
        if self._slot_of.get(rule.id) == slot:
            del self._slot_of[rule.id]
            del self._key_of[rule.id]
        self._slots[slot] = None
        self._free_slots.append(slot)
        program_id = self._slot_program[slot]
        users = self._program_rules[program_id]
        users.remove(slot)
        if not users:
            self._drop_program(program_id)

    def _drop_program(self, program_id: int) -> None:
        """Take a program no rule uses out of the index (its terms stay in the automaton)."""
        rule_plan = self._program_plan[program_id]
        assert rule_plan is not None
        if rule_plan.second is None:
            for tid in rule_plan.first:
                _discard(self._single, tid, program_id)
        else:
            for tid in rule_plan.first:
                by_second = self._pairs[tid]
                for other in rule_plan.second:
                    _discard(by_second, other, program_id)
                if not by_second:
                    del self._pairs[tid]
        del self._program_of[self._program_key[program_id]]
        self._programs[program_id] = None
        self._program_key[program_id] = None
        self._program_plan[program_id] = None
        self._free_programs.append(program_id)

    # --- matching -------------------------------------------------------------------------------

    @property
    def rules(self) -> tuple[RuleLike, ...]:
        """The rules, in rule order (as last given)."""
        return self._order

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
        """How many distinct queries are compiled (identical queries share one)."""
        return len(self._program_of)

    def candidates(self, state: ArticleState) -> list[int]:
        """Positions (in rule order) of the rules that the presearch selects for the article."""
        rules_of, rank = self._program_rules, self._rank
        return sorted(rank[slot] for p in self.candidate_programs(state) for slot in rules_of[p])

    def match(self, doc: Document, explain: bool = False) -> list[RuleMatch]:
        """The rules matching ``doc``, in rule order, with highlights (and explanations)."""
        state = ArticleState(self.table, doc)
        programs, rules_of, rank = self._programs, self._program_rules, self._rank
        found: list[tuple[int, int, list[Highlight]]] = []
        for program_id in self.candidate_programs(state):
            program = programs[program_id]
            if not program.matches(state):  # type: ignore[union-attr]
                continue
            keys: set[HighlightKey] = set()
            program.highlight(state, keys)  # type: ignore[union-attr]
            highlights = _to_highlights(state, keys)
            found.extend([(rank[slot], slot, highlights) for slot in rules_of[program_id]])
        found.sort(key=_POSITION)
        slots = self._slots
        return [
            RuleMatch(slots[slot].id, list(highlights), self._explain(slots[slot], state) if explain else None)  # type: ignore[union-attr]
            for _, slot, highlights in found
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


_ID = attrgetter("id")


@dataclass(frozen=True, slots=True)
class RuleChanges:
    """The difference between the engine's rules and a new list (:meth:`Engine.changes`)."""

    removed: list[str]
    added: list[RuleLike]
    unchanged_prefix: int  # the first rules of both lists are the same objects, at the same places

    def __len__(self) -> int:
        return len(self.removed) + len(self.added)


def _same_objects(old: Sequence[RuleLike], new: Sequence[RuleLike]) -> int:
    """How many leading entries of ``old`` and ``new`` are the very same objects (C-level scan)."""
    same = list(map(is_, old, new))
    try:
        return same.index(False)
    except ValueError:
        return len(same)


def _keys(rules: Sequence[RuleLike]) -> list[object]:
    """The program key of each rule: its query text, or its node when it has none."""
    queries = list(map(attrgetter("query"), rules))
    if all(queries):
        return queries  # type: ignore[return-value]
    return [rule.query or rule.node for rule in rules]


def _discard(index: dict[int, list[int]], tid: int, program_id: int) -> None:
    """Remove ``program_id`` from ``index[tid]``, and the entry when it becomes empty."""
    ids = index[tid]
    ids.remove(program_id)
    if not ids:
        del index[tid]
