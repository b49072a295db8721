"""The watch-rule query language: a hand-written lexer and recursive-descent parser producing the
AST of ``newsalert.domain.query.ast``.

Hand-written rather than a grammar library so that 100,000 rules compile quickly at start-up and
every error names its exact column and what to write instead. Syntax and edge-case decisions are in
``docs/rules.md``; the grammar is in ``docs/architecture.md`` ("Query parser").
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

from newsalert.domain.query.ast import And, Near, Node, Not, Or, Term
from newsalert.domain.text import CJK_CHARS, token_texts
from newsalert.errors import QuerySyntaxError

__all__ = ["MAX_DEPTH", "MAX_NEAR", "MAX_TERMS", "FIELDS", "LIST_NAME", "QuerySyntaxError", "parse_list", "parse_query"]

MAX_TERMS = 1_000
MAX_DEPTH = 32
MAX_NEAR = 100
MIN_PREFIX = 3
FIELDS = ("title", "body", "source")

# Tokens are parentheses, quoted phrases (possibly unterminated) and runs of anything else. ``split``
# with one capturing group returns, in one C call, the whitespace and the tokens alternately, so
# offsets are running sums of the part lengths (faster than ``finditer`` and a match per token).
_LEX = re.compile(r'([()]|"[^"]*"?|[^\s()"]+)')
_OPERATORS = frozenset({"AND", "OR", "NOT"})
_FIELD = re.compile(r"([^\W\d_]\w*):")
_NEAR = re.compile(r"(O?NEAR)(?:/(.*))?$")
# A token that is one Han, Hiragana or Katakana character, and a token ending in a Hangul letter.
_CJK_TOKEN = re.compile(f"[{CJK_CHARS}]")
_HANGUL_END = re.compile("[\u1100-\u11ff\u3131-\u318e\ua960-\ua97f\uac00-\ud7a3\ud7b0-\ud7ff]$")
LIST_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*$")
"""What a term-list name looks like (``@name`` in a query)."""

# Token kinds.
WORD, PHRASE, LP, RP, AND, OR, NOT, NEAR, MINUS, FIELD, EOF = (
    "word", "phrase", "(", ")", "AND", "OR", "NOT", "NEAR", "-", "field", "end of query",
)
_OPERAND_START = frozenset({WORD, PHRASE, LP, FIELD, MINUS, NOT})


@dataclass(slots=True)
class _Tok:
    kind: str
    start: int  # 0-based offset in the query
    end: int
    value: str = ""  # word text, phrase content, field name, NEAR operator name
    distance: int = 0  # NEAR/n


TermLists = Mapping[str, Sequence[Term]]
"""Named term lists as ``parse_query`` takes them: name -> the items parsed by ``parse_list``."""


def parse_query(query: str, lists: TermLists | None = None) -> Node:
    """Parse ``query`` into its AST; raises ``QuerySyntaxError`` naming the column of the problem.

    ``lists`` are the named term lists ``@name`` may refer to (none by default).
    """
    if not isinstance(query, str):
        raise QuerySyntaxError(f"a query must be a string, not {type(query).__name__}", 1, str(query))
    return _Parser(query, lists).parse()


def parse_list(item: str) -> Term:
    """One item of a named term list: a word or phrase (wildcard allowed), nothing else.

    Raises ``QuerySyntaxError`` (column in ``item``) for anything else: operators, fields,
    groups, ``@`` references (lists do not nest).
    """
    if not isinstance(item, str):
        raise QuerySyntaxError(f"a list item must be a string, not {type(item).__name__}", 1, str(item))
    node = _Parser(item, {}).parse()
    if not isinstance(node, Term) or node.field is not None:
        raise QuerySyntaxError(
            "a list item is one word or one phrase (a wildcard is allowed): no operators, fields or groups", 1, item
        )
    return node


def _lex(query: str) -> list[_Tok]:
    """Split ``query`` into tokens; lexical errors (unknown field, bad NEAR, open quote) raise here."""
    out: list[_Tok] = []
    parts = _LEX.split(query)
    end = len(parts[0])
    for i in range(1, len(parts), 2):
        text = parts[i]
        start, end = end, end + len(text)
        first = text[0]
        if first == "(" or first == ")":
            out.append(_Tok(LP if first == "(" else RP, start, end))
        elif first == '"':
            if len(text) < 2 or text[-1] != '"':
                raise QuerySyntaxError('unbalanced quote: this " is never closed', start + 1, query)
            out.append(_Tok(PHRASE, start, end, text[1:-1]))
        elif text in _OPERATORS:
            out.append(_Tok(text, start, end))
        elif first != "-" and ":" not in text and "*" not in text and "NEAR" not in text:
            out.append(_Tok(WORD, start, end, text))  # a plain word: by far the most common token
        else:
            _lex_run(query, text, start, out)
        end += len(parts[i + 1])
    out.append(_Tok(EOF, len(query), len(query)))
    return out


def _lex_run(query: str, run: str, start: int, out: list[_Tok]) -> None:
    """Lex one run of non-space, non-paren, non-quote characters: an operator, ``-``, field or word."""
    if run in ("AND", "OR", "NOT"):
        out.append(_Tok(run, start, start + len(run)))
        return
    near = _NEAR.match(run)
    if near:
        out.append(_near_token(query, near, start))
        return
    # Leading "-" means NOT; each one is its own token so that "--a" is a double negation.
    while run.startswith("-"):
        out.append(_Tok(MINUS, start, start + 1))
        run, start = run[1:], start + 1
    while run:
        field = _FIELD.match(run)
        if not field:
            out.append(_Tok(WORD, start, start + len(run), run))
            return
        name = field.group(1)
        if name not in FIELDS:
            raise QuerySyntaxError(
                f"unknown field {name + ':'!r}: the fields are title:, body: and source: "
                f'(to search for the text, quote it: "{run}")',
                start + 1,
                query,
            )
        out.append(_Tok(FIELD, start, start + field.end(), name))
        run, start = run[field.end() :], start + field.end()
        if run.startswith("-"):
            raise QuerySyntaxError(
                f"a field applies to a word, a phrase or (...), not to '-': write -{name}:{run[1:]}",
                start + 1,
                query,
            )


def _near_token(query: str, near: re.Match, start: int) -> _Tok:
    """A ``NEAR/n`` or ``ONEAR/n`` token, checking that ``n`` is a whole number from 0 to 100."""
    op, distance = near.group(1), near.group(2)
    end = start + len(near.group(0))
    if distance is None:
        raise QuerySyntaxError(f"{op} needs a distance: write {op}/n with n from 0 to {MAX_NEAR}", start + 1, query)
    if not (distance.isascii() and distance.isdigit()) or int(distance) > MAX_NEAR:
        raise QuerySyntaxError(
            f"{op} distance must be a whole number from 0 to {MAX_NEAR}, not {distance!r}",
            start + len(op) + 2,
            query,
        )
    return _Tok(NEAR, start, end, op, int(distance))


class _Parser:
    """Recursive descent over the token list; one instance parses one query."""

    def __init__(self, query: str, lists: TermLists | None = None) -> None:
        self.query = query
        self.lists = lists or {}
        self.toks = _lex(query)
        self.i = 0
        self.cur = self.toks[0]  # the current token (an attribute, not a property: it is read a lot)
        self.terms = 0
        # Where each composite node was written (0-based offset), for errors found after building it.
        self.where: dict[int, int] = {}

    # --- helpers ------------------------------------------------------------------------------
    def error(self, message: str, offset: int) -> QuerySyntaxError:
        return QuerySyntaxError(message, offset + 1, self.query)

    def advance(self) -> _Tok:
        tok = self.cur
        self.i += 1
        self.cur = self.toks[self.i] if self.i < len(self.toks) else tok
        return tok

    def need_operand_after(self, op: _Tok, name: str) -> None:
        """Raise unless the current token can start an operand of the operator ``op``."""
        if self.cur.kind not in _OPERAND_START:
            raise self.error(f"{name} needs a term after it", op.start)

    def located(self, node: Node, offset: int) -> Node:
        if not isinstance(node, Term):
            self.where[id(node)] = offset
        return node

    # --- grammar ------------------------------------------------------------------------------
    def parse(self) -> Node:
        if self.cur.kind == EOF:
            raise self.error("empty query: write at least one word or phrase", 0)
        node = self.parse_or(None, 0)
        if self.cur.kind == RP:
            raise self.error("unbalanced parenthesis: this ) has no matching (", self.cur.start)
        if self.cur.kind != EOF:  # pragma: no cover - every other token is consumed by parse_or
            raise self.error(f"unexpected {self.cur.kind}", self.cur.start)
        if not _positive(node):
            raise self.error(
                "this query can match an article containing none of its terms: NOT only excludes, "
                "add a word or phrase that must be present",
                self.toks[0].start,
            )
        return node

    def parse_or(self, field: str | None, depth: int) -> Node:
        start = self.cur.start
        branches = [(start, self.parse_and(field, depth))]
        while self.cur.kind == OR:
            op = self.advance()
            self.need_operand_after(op, "OR")
            branches.append((self.cur.start, self.parse_and(field, depth)))
        if len(branches) == 1:
            return branches[0][1]
        for offset, branch in branches:
            if not _positive(branch):
                raise self.error(
                    "this side of OR only excludes, so the query could match an article containing "
                    "none of its terms: give it a word or phrase that must be present",
                    offset,
                )
        return self.located(Or(_flatten(Or, [b for _, b in branches])), start)

    def parse_and(self, field: str | None, depth: int) -> Node:
        start_tok = self.cur
        if start_tok.kind not in _OPERAND_START:
            raise self.operand_missing(start_tok)
        items = [self.parse_near(field, depth)]
        while True:
            kind = self.cur.kind
            if kind == AND:
                op = self.advance()
                self.need_operand_after(op, "AND")
            elif kind not in _OPERAND_START:
                break
            items.append(self.parse_near(field, depth))
        if len(items) == 1:
            return items[0]
        if not any(_positive(item) for item in items):
            raise self.error(
                "this group only excludes (every part is NOT or -): add a word or phrase that must be present",
                start_tok.start,
            )
        return self.located(And(_flatten(And, items)), start_tok.start)

    def operand_missing(self, tok: _Tok) -> QuerySyntaxError:
        """The error for a token found where a term was expected."""
        if tok.kind in (AND, OR, NEAR):
            name = tok.value or tok.kind
            return self.error(f"{name} needs a term before it", tok.start)
        if tok.kind == RP:
            return self.error("unbalanced parenthesis: this ) has no matching (", tok.start)
        return self.error("expected a word, a phrase or (", tok.start)

    def parse_near(self, field: str | None, depth: int) -> Node:
        left_start = self.cur.start
        left = self.parse_unary(field, depth)
        if self.cur.kind != NEAR:
            return left
        op = self.advance()
        self.need_operand_after(op, op.value)
        right_start = self.cur.start
        right = self.parse_unary(field, depth)
        if self.cur.kind == NEAR:
            raise self.error(
                f"{op.value} cannot be chained: write a {op.value}/n b AND b {self.cur.value}/n c",
                self.cur.start,
            )
        self.check_near_operand(left, left_start, op.value)
        self.check_near_operand(right, right_start, op.value)
        fields = {t.field for t in _near_terms(left)} | {t.field for t in _near_terms(right)}
        if len(fields) > 1:
            raise self.error(
                f"{op.value} operands must be in the same field; to search one field put it outside: "
                f"title:(a {op.value}/{op.distance} b)",
                op.start,
            )
        near = Near(left, right, op.distance, ordered=op.value == "ONEAR")
        return self.located(near, op.start)

    def check_near_operand(self, node: Node, offset: int, op: str) -> None:
        """A NEAR operand is a term or an OR of terms; anything else is an error at its place."""
        allowed = f"{op} operands are words, phrases, wildcards or (a OR b) of those"
        if isinstance(node, Term):
            return
        if isinstance(node, Or):
            for child in node.children:
                if not isinstance(child, Term):
                    self.check_near_operand(child, self.where.get(id(child), offset), op)
            return
        where = self.where.get(id(node), offset)
        if isinstance(node, Not):
            raise self.error(f"NOT inside a {op} operand: {allowed}", where)
        if isinstance(node, And):
            raise self.error(f"AND (or two terms side by side) inside a {op} operand: {allowed}", where)
        raise self.error(f"{op} inside a {op} operand: {allowed}", where)

    def parse_unary(self, field: str | None, depth: int) -> Node:
        tok = self.cur
        if tok.kind not in (NOT, MINUS):
            return self.parse_primary(field, depth)
        self.advance()
        if depth + 1 > MAX_DEPTH:
            raise self.error(f"nested too deeply: at most {MAX_DEPTH} levels of ( and NOT", tok.start)
        if tok.kind == MINUS and (self.cur.start != tok.end or self.cur.kind not in (WORD, PHRASE, LP, FIELD, MINUS)):
            raise self.error("'-' must be directly followed by a word, a phrase or (; or write NOT", tok.start)
        self.need_operand_after(tok, "NOT")
        child = self.parse_unary(field, depth + 1)
        if isinstance(child, Not):  # double negation cancels
            return child.child
        return self.located(Not(child), tok.start)

    def parse_primary(self, field: str | None, depth: int) -> Node:
        tok = self.cur
        if tok.kind == FIELD:
            self.advance()
            nxt = self.cur
            if nxt.start != tok.end or nxt.kind not in (WORD, PHRASE, LP):
                raise self.error(
                    f"{tok.value}: must be directly followed by a word, a phrase or (...)", tok.start
                )
            if field is not None and field != tok.value:
                raise self.error(f"{tok.value}: inside {field}:(...) — a term has only one field", tok.start)
            field = tok.value
            tok = nxt
        if tok.kind == WORD:
            self.advance()
            if tok.value.startswith("@") and LIST_NAME.match(tok.value[1:]):
                return self.list_ref(tok, field)
            return self.word_term(tok, field)
        if tok.kind == PHRASE:
            self.advance()
            return self.phrase_term(tok, field)
        if tok.kind == LP:
            return self.group(field, depth)
        raise self.operand_missing(tok)

    def group(self, field: str | None, depth: int) -> Node:
        lp = self.advance()
        if depth + 1 > MAX_DEPTH:
            raise self.error(f"nested too deeply: at most {MAX_DEPTH} levels of ( and NOT", lp.start)
        if self.cur.kind == RP:
            raise self.error("empty group (): put a term inside or remove it", lp.start)
        node = self.parse_or(field, depth + 1)
        if self.cur.kind != RP:
            raise self.error("unbalanced parenthesis: this ( is never closed", lp.start)
        self.advance()
        return node

    def list_ref(self, tok: _Tok, field: str | None) -> Node:
        """``@name``: the OR of the list's items (in ``field`` when one applies)."""
        name = tok.value[1:]
        items = self.lists.get(name)
        if items is None:
            known = ", ".join("@" + n for n in sorted(self.lists)) or "none defined"
            raise self.error(f"unknown term list @{name} (known: {known}); to search for the text, quote it: \"{tok.value}\"", tok.start)
        self.terms += len(items)
        if self.terms > MAX_TERMS:
            raise self.error(f"too many terms: at most {MAX_TERMS:,} per query (@{name} has {len(items)})", tok.start)
        # Positions point at the @name in this query, so highlights and --explain name the query text.
        terms = [replace(t, field=field, start=tok.start, end=tok.end) for t in items]
        if len(terms) == 1:
            return terms[0]
        return self.located(Or(tuple(terms)), tok.start)

    # --- terms --------------------------------------------------------------------------------
    def word_term(self, tok: _Tok, field: str | None) -> Term:
        text = tok.value
        star = text.find("*")
        prefix = star != -1
        if prefix:
            self.check_star(text, tok.start, star, "word")
            text = text[:-1]
        toks = _word_tokens(text)
        if not toks:
            raise self.error(f"{tok.value!r} has no letters or digits to search for", tok.start)
        return self.make_term(toks, prefix, field, tok, star)

    def phrase_term(self, tok: _Tok, field: str | None) -> Term:
        content = tok.value
        inner = tok.start + 1  # offset of the phrase content in the query
        if not content.strip():
            raise self.error('empty phrase "": put words inside the quotes', tok.start)
        body = content.rstrip()
        star = body.find("*")
        prefix = star != -1
        if prefix:
            self.check_star(body, inner, star, "phrase's last word")
            body = body[:-1]
        toks = _word_tokens(body)
        if not toks:
            raise self.error(f"phrase {content!r} has no letters or digits to search for", tok.start)
        return self.make_term(toks, prefix, field, tok, star + inner - tok.start if prefix else -1)

    def check_star(self, text: str, base: int, star: int, what: str) -> None:
        """``*`` is allowed once, at the very end, right after a letter or digit."""
        if star != len(text) - 1:
            raise self.error(f"wildcard * is only allowed at the end of a {what}", base + star)
        if star == 0 and base > 0 and self.query[base - 1] == '"':
            raise self.error('a wildcard on a phrase goes inside the quotes: "ballistic missile*"', base)
        if star == 0 or not text[star - 1].isalnum():
            raise self.error(f"wildcard * must follow at least {MIN_PREFIX} letters or digits", base + star)

    def make_term(self, toks: tuple[str, ...], prefix: bool, field: str | None, tok: _Tok, star: int) -> Term:
        """Build a Term, enforcing the wildcard prefix length and the term limit.

        A word ending in Hangul matches as a prefix, with or without ``*``: Korean particles are
        written onto the noun (``북한`` finds ``북한이``).
        """
        if prefix and _CJK_TOKEN.match(toks[-1]):
            raise self.error(
                "no wildcard after Chinese or Japanese characters: they match wherever they appear, "
                "remove the *",
                tok.start + star,
            )
        if _HANGUL_END.search(toks[-1]):
            prefix = True
        elif prefix and len(toks[-1]) < MIN_PREFIX:
            raise self.error(
                f"wildcard needs at least {MIN_PREFIX} letters or digits before * (it applies to {toks[-1]!r})",
                tok.start + star,
            )
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise self.error(f"too many terms: at most {MAX_TERMS:,} per query", tok.start)
        return Term(
            toks, prefix, field, self.query[tok.start : tok.end], tok.start, tok.end  # type: ignore[arg-type]
        )


@lru_cache(maxsize=100_000)
def _word_tokens(text: str) -> tuple[str, ...]:
    """The tokens of a query word or phrase. Cached: the words of 100,000 rules repeat heavily."""
    return tuple(token_texts(text))


def _flatten(kind: type, items: list[Node]) -> tuple[Node, ...]:
    """Children of a new And/Or, with nested nodes of the same kind merged into it."""
    out: list[Node] = []
    for item in items:
        if isinstance(item, kind):
            out.extend(item.children)  # type: ignore[attr-defined]
        else:
            out.append(item)
    return tuple(out)


def _positive(node: Node) -> bool:
    """Whether ``node`` can only match an article that contains at least one of its terms.

    Only a ``Not`` fails: every ``Or`` the parser builds has positive branches and every ``And`` a
    positive child (both are checked when they are built), and terms and NEARs are positive.
    """
    return not isinstance(node, Not)


def _near_terms(node: Node) -> list[Term]:
    """The terms of a (valid) NEAR operand."""
    return [node] if isinstance(node, Term) else list(node.children)  # type: ignore[union-attr,list-item]
