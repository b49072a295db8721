"""A plain, obviously-correct evaluator of the query AST, written for the tests.

It shares nothing with the engine but the text cleaning and tokenising (tested on their own): no
automaton, no presearch, no compiled programs. Each rule is evaluated directly on the token lists
by the definitions of docs/rules.md, and highlights follow the definition the engine documents:

- a term occurs where its tokens appear consecutively in one of its fields (the last token as a
  prefix for a wildcard); an unfielded term looks in the title and the body;
- NEAR/n: an occurrence of each operand in the same field, not overlapping, with at most n tokens
  strictly between them (ONEAR: the left one first);
- highlights of a matching rule: every occurrence of a term of a satisfied AND, of the satisfied
  branches of an OR, the occurrences that form a satisfying NEAR pair, nothing under NOT;
  deduplicated, sorted by field (title, body, source), start, end; as character offsets.
"""

from __future__ import annotations

from dataclasses import dataclass

from newsalert.domain.query.ast import And, Near, Node, Not, Or, Term
from newsalert.domain.text import Token, clean_text, tokens

FIELDS = ("title", "body", "source")


@dataclass
class Article:
    """Cleaned text and tokens of each field."""

    text: dict[str, str]
    toks: dict[str, list[Token]]


def make_article(title: str | None, body: str | None, source: str | None) -> Article:
    """Clean and tokenise the three fields."""
    text = {"title": clean_text(title), "body": clean_text(body), "source": clean_text(source)}
    return Article(text, {name: tokens(value) for name, value in text.items()})


def occurrences(term: Term, article: Article) -> list[tuple[str, int, int]]:
    """Every (field, first token, one past the last token) where ``term`` occurs."""
    found = []
    width = len(term.tokens)
    for name in term.fields:
        words = [t.text for t in article.toks[name]]
        for i in range(len(words) - width + 1):
            window = words[i : i + width]
            same_head = window[:-1] == list(term.tokens[:-1])
            last = window[-1].startswith(term.tokens[-1]) if term.prefix else window[-1] == term.tokens[-1]
            if same_head and last:
                found.append((name, i, i + width))
    return found


def _operand_occurrences(node: Node, article: Article) -> list[tuple[str, int, int]]:
    terms = [node] if isinstance(node, Term) else list(node.children)
    return [occ for term in terms for occ in occurrences(term, article)]


def _is_near(a: tuple[str, int, int], b: tuple[str, int, int], distance: int, ordered: bool) -> bool:
    """Whether ``a`` (left operand) and ``b`` (right) are near by the NEAR/ONEAR definition."""
    if a[0] != b[0]:
        return False
    if a[2] <= b[1]:  # a entirely before b
        return b[1] - a[2] <= distance
    if b[2] <= a[1] and not ordered:  # b entirely before a
        return a[1] - b[2] <= distance
    return False  # overlapping, or in the wrong order for ONEAR


def _near_pairs(node: Near, article: Article) -> list[tuple[tuple, tuple]]:
    lefts = _operand_occurrences(node.left, article)
    rights = _operand_occurrences(node.right, article)
    return [(a, b) for a in lefts for b in rights if _is_near(a, b, node.distance, node.ordered)]


def evaluate(node: Node, article: Article) -> bool:
    """Whether ``node`` matches ``article``."""
    if isinstance(node, Term):
        return bool(occurrences(node, article))
    if isinstance(node, And):
        return all(evaluate(child, article) for child in node.children)
    if isinstance(node, Or):
        return any(evaluate(child, article) for child in node.children)
    if isinstance(node, Not):
        return not evaluate(node.child, article)
    if isinstance(node, Near):
        return bool(_near_pairs(node, article))
    raise TypeError(node)


def highlight_spans(node: Node, article: Article) -> list[tuple[str, int, int]]:
    """Token spans to highlight for a ``node`` that matched."""
    if isinstance(node, Term):
        return occurrences(node, article)
    if isinstance(node, And):
        return [s for child in node.children if not isinstance(child, Not) for s in highlight_spans(child, article)]
    if isinstance(node, Or):
        return [s for child in node.children if evaluate(child, article) for s in highlight_spans(child, article)]
    if isinstance(node, Not):
        return []
    if isinstance(node, Near):
        return [s for pair in _near_pairs(node, article) for s in pair]
    raise TypeError(node)


def highlights(node: Node, article: Article) -> list[tuple[str, str, int, int]]:
    """``(field, text, start, end)`` highlights of a ``node`` that matched, sorted, deduplicated."""
    chars = set()
    for name, first, stop in highlight_spans(node, article):
        toks = article.toks[name]
        chars.add((name, toks[first].start, toks[stop - 1].end))
    ordered = sorted(chars, key=lambda h: (FIELDS.index(h[0]), h[1], h[2]))
    return [(name, article.text[name][start:end], start, end) for name, start, end in ordered]


def reference_match(rules, title: str | None, body: str | None, source: str | None) -> list[tuple[str, list]]:
    """``(rule id, highlights)`` of every rule matching the article, in rule order."""
    article = make_article(title, body, source)
    return [(rule.id, highlights(rule.node, article)) for rule in rules if evaluate(rule.node, article)]


@dataclass(frozen=True)
class Rule:
    """The three fields of ``rulefile.CompiledRule`` that the engine reads."""

    id: str
    query: str
    node: Node
