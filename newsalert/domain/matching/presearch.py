"""The presearcher: which rules are worth evaluating for an article.

Each rule is indexed by *anchor* terms (or pairs of them) that any matching article must contain,
so the filter never drops a rule that can match and keeps candidates few at 100,000 rules. Why
anchors, how they are chosen and why pairs: ``docs/architecture.md`` ("Presearch").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from newsalert.domain.matching.program import AllProgram, AnyProgram, NearProgram, NotProgram, Program, TermProgram
from newsalert.domain.query.ast import Term

# Very common English words: as anchors they would make a rule a candidate for nearly every
# article. Their estimated frequency is high so that an AND anchors on another child.
_COMMON_WORDS = frozenset(
    """a about after all also an and any are as at be been but by can could did do first for from
    had has have he her his i if in into is it its last more most new no not now of on one only or
    other our out over said says she so some than that the their them then there these they this
    three to two up us was we were what when which who will with would year years you""".split()
)

TermCost = Callable[[Term], float]


def _word_frequency(token: str) -> float:
    """A rough share of articles containing ``token``: common words high, long words low."""
    if token in _COMMON_WORDS:
        return 0.9
    if token.isdigit():
        return 0.05
    # Longer words are rarer in news text; the curve only has to rank, not predict.
    return max(0.01, 0.4 * 0.7 ** max(0, len(token) - 3))


def estimated_frequency(term: Term) -> float:
    """Estimated share of articles containing ``term``; only its rank among terms matters."""
    words = [_word_frequency(t) for t in term.tokens]
    if term.prefix:
        # A wildcard matches every word with that stem: broader the shorter the stem.
        stem = term.tokens[-1]
        words[-1] = min(1.0, words[-1] * (1 + 8 / len(stem)))
    # A phrase is much rarer than its rarest word.
    frequency = min(words) * 0.2 ** (len(words) - 1)
    if term.field == "title":
        frequency *= 0.1  # titles are a dozen words
    return frequency


class NoAnchorError(ValueError):
    """A query that could match an article containing none of its terms (the parser refuses these)."""


Requirement = tuple[frozenset[int], float]
# Above this many (first, second) term pairs a rule is indexed by its rarest requirement alone:
# "(a OR b OR c OR d) (e OR f OR g OR h)" would otherwise take 16 index entries, and more.
MAX_PAIRS = 16


def anchors(program: Program, costs: Sequence[float]) -> Requirement:
    """The anchor term ids of a compiled query node and their estimated cost (sum of the terms'
    estimated frequencies, ``costs[term id]``)."""
    if isinstance(program, TermProgram):
        return frozenset((program.tid,)), costs[program.tid]
    if isinstance(program, AllProgram):
        options = [(frozenset((tid,)), costs[tid]) for tid in program.required]
        options += [anchors(sub, costs) for sub in program.subs]
        if not options:
            raise NoAnchorError("an AND with only NOT children has no anchor term")
        return min(options, key=lambda option: (option[1], len(option[0]), sorted(option[0])))
    if isinstance(program, AnyProgram):
        parts = [(frozenset((tid,)), costs[tid]) for tid in program.terms]
        parts += [anchors(sub, costs) for sub in program.subs]
        return frozenset().union(*(p[0] for p in parts)), min(1.0, sum(p[1] for p in parts))
    if isinstance(program, NearProgram):
        left = (frozenset(program.left), min(1.0, sum(costs[t] for t in program.left)))
        right = (frozenset(program.right), min(1.0, sum(costs[t] for t in program.right)))
        return min(left, right, key=lambda option: option[1])
    if isinstance(program, NotProgram):
        raise NoAnchorError("a NOT matches articles without its terms: it cannot anchor a rule")
    raise TypeError(f"not a compiled query node: {program!r}")


def requirements(program: Program, costs: Sequence[float]) -> list[Requirement]:
    """Term sets of which the rule needs one term each (all of them): a rule that matches an
    article has at least one term of every requirement present in it.

    A term is one requirement; an AND needs every requirement of every positive child; a NEAR
    needs both operands; an OR needs one term of the union of its children's best anchors; a NOT
    requires nothing.
    """
    if isinstance(program, AllProgram):
        needed = [(frozenset((tid,)), costs[tid]) for tid in program.required]
        return needed + [r for sub in program.subs for r in requirements(sub, costs)]
    if isinstance(program, NearProgram):
        return [
            (frozenset(program.left), min(1.0, sum(costs[t] for t in program.left))),
            (frozenset(program.right), min(1.0, sum(costs[t] for t in program.right))),
        ]
    if isinstance(program, NotProgram):
        return []
    return [anchors(program, costs)]


@dataclass(frozen=True, slots=True)
class PairPlan:
    """How one rule is indexed: by ``first`` alone, or by every pair of (``first``, ``second``)."""

    first: frozenset[int]
    second: frozenset[int] | None


def plan(program: Program, costs: Sequence[float]) -> PairPlan:
    """The index plan of a rule: its two rarest requirements when pairing them is small enough."""
    needed = sorted(requirements(program, costs), key=lambda r: (r[1], len(r[0]), sorted(r[0])))
    if not needed:
        raise NoAnchorError("a query needs at least one positive term")
    first = needed[0][0]
    for other, _ in needed[1:]:
        if other != first and len(first) * len(other) <= MAX_PAIRS:
            return PairPlan(first, other)
    return PairPlan(first, None)
