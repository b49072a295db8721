"""The parsed form of a watch-rule query: the contract between the parser and the matching engine.

The parser (``newsalert.domain.query.parser``) produces these nodes; the engine and the reference
evaluator consume them. Fields are pushed down onto terms at parse time, so ``title:(a OR b)``
becomes ``Or(Term(a, field="title"), Term(b, field="title"))``. A term without a field
(``field=None``) matches in the title or the body.

Shapes the parser guarantees:

- ``And`` and ``Or`` have at least two children; ``Not`` appears only as a child of ``And`` that
  also has at least one positive child (a query can never match an article containing none of its
  terms: ``NOT Iran`` and ``a OR NOT b`` are rejected).
- ``Near`` operands are a ``Term`` or an ``Or`` whose children are all ``Term``; all of them have
  the same field.
- ``Term.tokens`` is non-empty; with ``prefix=True`` the last token is a prefix (``missile*``) of at
  least 3 characters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Union

Field = Literal["title", "body", "source"]
# The fields an unfielded term is looked for in.
DEFAULT_FIELDS: tuple[Field, ...] = ("title", "body")


@dataclass(frozen=True, slots=True)
class Term:
    """A word, a phrase (several consecutive tokens) or a wildcard, in one field or the default ones.

    ``text`` is the term as written in the query (for highlights and ``--explain``); ``start`` and
    ``end`` are its character offsets in the query.
    """

    tokens: tuple[str, ...]
    prefix: bool = False
    field: Field | None = None
    text: str = ""
    start: int = 0
    end: int = 0

    @property
    def fields(self) -> tuple[Field, ...]:
        """The article fields this term is looked for in."""
        return (self.field,) if self.field else DEFAULT_FIELDS


@dataclass(frozen=True, slots=True)
class And:
    children: tuple["Node", ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple["Node", ...]


@dataclass(frozen=True, slots=True)
class Not:
    child: "Node"


@dataclass(frozen=True, slots=True)
class Near:
    """``left NEAR/distance right``: at most ``distance`` tokens strictly between them, in one field.

    With ``ordered=True`` (``ONEAR``) ``left`` must come before ``right``.
    """

    left: Union[Term, Or]
    right: Union[Term, Or]
    distance: int
    ordered: bool = False


Node = Union[Term, And, Or, Not, Near]


def iter_terms(node: Node):
    """Every ``Term`` in ``node``, depth first, left to right (also those under ``Not``)."""
    if isinstance(node, Term):
        yield node
    elif isinstance(node, (And, Or)):
        for child in node.children:
            yield from iter_terms(child)
    elif isinstance(node, Not):
        yield from iter_terms(node.child)
    elif isinstance(node, Near):
        yield from iter_terms(node.left)
        yield from iter_terms(node.right)
