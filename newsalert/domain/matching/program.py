"""Rules compiled for evaluation: small node objects over term ids instead of the query AST.

Evaluation needs only the set of terms present in the article (from the one automaton pass) for
AND, OR and NOT; token spans are computed, lazily, for NEAR and for highlights. An AND of plain
terms becomes one subset test and an OR of plain terms one disjointness test, both C-level set
operations, which is what most rules reduce to.

Highlights (:meth:`Program.highlight`, called only on a rule that matched) are the occurrences of
the positive terms that made it match: every occurrence of a term of a satisfied AND or of a
satisfied branch of an OR, for NEAR only the occurrences that form a satisfying pair, never a term
under NOT.
"""

from __future__ import annotations

from newsalert.domain.matching.highlights import HighlightKey
from newsalert.domain.matching.terms import ArticleState, Span, TermTable
from newsalert.domain.query.ast import And, Near, Node, Not, Or, Term


class Program:
    """A compiled query node."""

    __slots__ = ()

    def matches(self, state: ArticleState) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def highlight(self, state: ArticleState, out: set[HighlightKey]) -> None:  # pragma: no cover - abstract
        """Add the highlight keys of this (matching) node to ``out``."""
        raise NotImplementedError


class TermProgram(Program):
    """One term: present or not."""

    __slots__ = ("tid",)

    def __init__(self, tid: int) -> None:
        self.tid = tid

    def matches(self, state: ArticleState) -> bool:
        return self.tid in state.present

    def highlight(self, state: ArticleState, out: set[HighlightKey]) -> None:
        out.update(state.keys(self.tid))


class AllProgram(Program):
    """AND: every required term, no excluded term, every sub-program, no negated sub-program."""

    __slots__ = ("required", "excluded", "subs", "negs")

    def __init__(self, required: frozenset[int], excluded: frozenset[int], subs: tuple[Program, ...], negs: tuple[Program, ...]) -> None:
        self.required = required
        self.excluded = excluded
        self.subs = subs
        self.negs = negs

    def matches(self, state: ArticleState) -> bool:
        present = state.present
        if not self.required <= present or not self.excluded.isdisjoint(present):
            return False
        for sub in self.subs:
            if not sub.matches(state):
                return False
        for neg in self.negs:
            if neg.matches(state):
                return False
        return True

    def highlight(self, state: ArticleState, out: set[HighlightKey]) -> None:
        for tid in self.required:
            out.update(state.keys(tid))
        for sub in self.subs:
            sub.highlight(state, out)


class AnyProgram(Program):
    """OR: at least one of the terms or sub-programs."""

    __slots__ = ("terms", "subs")

    def __init__(self, terms: frozenset[int], subs: tuple[Program, ...]) -> None:
        self.terms = terms
        self.subs = subs

    def matches(self, state: ArticleState) -> bool:
        if not self.terms.isdisjoint(state.present):
            return True
        for sub in self.subs:
            if sub.matches(state):
                return True
        return False

    def highlight(self, state: ArticleState, out: set[HighlightKey]) -> None:
        for tid in self.terms & state.present:
            out.update(state.keys(tid))
        for sub in self.subs:
            if sub.matches(state):
                sub.highlight(state, out)


class NotProgram(Program):
    """NOT outside an AND (the parser never produces it; kept so any AST evaluates correctly)."""

    __slots__ = ("child",)

    def __init__(self, child: Program) -> None:
        self.child = child

    def matches(self, state: ArticleState) -> bool:
        return not self.child.matches(state)

    def highlight(self, state: ArticleState, out: set[HighlightKey]) -> None:
        return None


def _spans_by_field(state: ArticleState, tids: tuple[int, ...]) -> dict[str, list[tuple[int, int]]]:
    """Field -> token spans of any of ``tids`` (an operand of NEAR: a term or an OR of terms)."""
    if len(tids) == 1:
        return state.spans(tids[0])
    merged: dict[str, list[tuple[int, int]]] = {}
    for tid in tids:
        for name, spans in state.spans(tid).items():
            merged.setdefault(name, []).extend(spans)
    return merged


class NearProgram(Program):
    """``left NEAR/n right``: spans in one field with at most n tokens strictly between them.

    Overlapping spans are not near each other (``korea NEAR/0 "north korea"`` needs a second
    "korea" next to the phrase): the tokens "between" two overlapping spans are not defined.
    """

    __slots__ = ("left", "right", "distance", "ordered")

    def __init__(self, left: tuple[int, ...], right: tuple[int, ...], distance: int, ordered: bool) -> None:
        self.left = left
        self.right = right
        self.distance = distance
        self.ordered = ordered

    def _near(self, a: tuple[int, int], b: tuple[int, int]) -> bool:
        """Whether span ``a`` (left operand) and span ``b`` (right operand) are near."""
        if 0 <= b[0] - a[1] <= self.distance:
            return True
        return not self.ordered and 0 <= a[0] - b[1] <= self.distance

    def _pairs(self, state: ArticleState, first_only: bool) -> tuple[set[Span], set[Span]]:
        """The left and right spans that take part in a satisfying pair (stop at one if asked)."""
        lefts = _spans_by_field(state, self.left)
        rights = _spans_by_field(state, self.right)
        used_left: set[Span] = set()
        used_right: set[Span] = set()
        for name, left_spans in lefts.items():
            right_spans = rights.get(name)
            if not right_spans:
                continue
            for a in left_spans:
                for b in right_spans:
                    if self._near(a, b):
                        used_left.add((name, *a))
                        used_right.add((name, *b))
                        if first_only:
                            return used_left, used_right
        return used_left, used_right

    def matches(self, state: ArticleState) -> bool:
        present = state.present
        if not any(t in present for t in self.left) or not any(t in present for t in self.right):
            return False
        return bool(self._pairs(state, first_only=True)[0])

    def highlight(self, state: ArticleState, out: set[HighlightKey]) -> None:
        used_left, used_right = self._pairs(state, first_only=False)
        out.update(state.span_key(*span) for span in used_left | used_right)


def _operand_terms(node: Node, table: TermTable) -> tuple[int, ...]:
    """Term ids of a NEAR operand: a term, or an OR whose children are all terms."""
    if isinstance(node, Term):
        return (table.intern(node),)
    if isinstance(node, Or) and all(isinstance(c, Term) for c in node.children):
        return tuple(dict.fromkeys(table.intern(c) for c in node.children))
    raise ValueError(f"a NEAR operand must be a term or an OR of terms, not {type(node).__name__}")


def _compile_and(node: And, table: TermTable) -> Program:
    required: list[int] = []
    excluded: list[int] = []
    subs: list[Program] = []
    negs: list[Program] = []
    for child in node.children:
        if isinstance(child, Term):
            required.append(table.intern(child))
        elif isinstance(child, Not) and isinstance(child.child, Term):
            excluded.append(table.intern(child.child))
        elif isinstance(child, Not):
            negs.append(compile_node(child.child, table))
        else:
            subs.append(compile_node(child, table))
    return AllProgram(frozenset(required), frozenset(excluded), tuple(subs), tuple(negs))


def compile_node(node: Node, table: TermTable) -> Program:
    """Compile a query AST into a :class:`Program`, interning its terms in ``table``."""
    if isinstance(node, Term):
        return TermProgram(table.intern(node))
    if isinstance(node, And):
        return _compile_and(node, table)
    if isinstance(node, Or):
        terms = frozenset(table.intern(c) for c in node.children if isinstance(c, Term))
        subs = tuple(compile_node(c, table) for c in node.children if not isinstance(c, Term))
        return AnyProgram(terms, subs)
    if isinstance(node, Not):
        return NotProgram(compile_node(node.child, table))
    if isinstance(node, Near):
        return NearProgram(_operand_terms(node.left, table), _operand_terms(node.right, table), node.distance, node.ordered)
    raise TypeError(f"not a query node: {node!r}")
