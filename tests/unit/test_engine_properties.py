"""Property tests: the engine (automaton + presearch + compiled programs) gives exactly the rule ids
and highlights of the plain reference evaluator, on random queries and random articles.

Queries and articles are built from one small vocabulary so that terms really occur: phrases,
wildcards, diacritics, ligatures, possessives, hyphens, HTML tags (with attributes that must never
match), entities, Chinese and Japanese characters, Korean words with particles and names written
with symbols all appear. Deterministic (``derandomize``) and bounded, so CI is stable.
"""

from __future__ import annotations

import re

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from newsalert.domain.matching import Engine, prepare
from newsalert.domain.query.ast import And, Near, Node, Not, Or, Term
from newsalert.domain.query.parser import parse_query
from newsalert.errors import QuerySyntaxError
from tests.unit.reference_eval import Rule, evaluate, make_article, reference_match

# Normalised token -> ways it is written in articles (and in queries, for the parser test).
SURFACES: dict[str, list[str]] = {
    "north": ["north", "North", "NORTH"],
    "korea": ["Korea", "korea"],
    "missile": ["missile", "Missile"],
    "missiles": ["missiles", "<b>missiles</b>"],
    "kim": ["Kim"],
    "putin": ["Putin", "PUTIN"],
    "russia": ["Russia"],
    "iran": ["Iran", "IRAN"],
    "zelensky": ["Zélensky", "zelensky", "Ze\u0301lensky"],
    "strasse": ["Straße", "strasse"],
    "finance": ["ﬁnance", "finance"],
    "sanctions": ["sanctions"],
    "the": ["the", "The"],
    "s": ["s"],
    "at&t": ["AT&T", "AT&amp;T"],
    "c++": ["C++"],
    "北": ["北"],
    "鮮": ["鮮"],
    "ミ": ["ミ"],
    "ガ": ["ガ", "ｶﾞ"],
    "북한": ["북한", "북한이", "북한의"],
    "미사일": ["미사일을", "미사일"],
}
# Multi-token surfaces: the tokens they make.
MULTI: dict[str, tuple[str, ...]] = {
    "F-35": ("f", "35"),
    "AT&amp;T": ("at&t",),
    "AT-T": ("at", "t"),
    "北朝鮮が": ("北", "朝", "鮮", "が"),
    "ミサイル": ("ミ", "サ", "イ", "ル"),
    "G7サミット": ("g7", "サ", "ミ", "ッ", "ト"),
    "탄도미사일": ("탄도미사일",),
    "Pyongyang's": ("pyongyang", "s"),
    "North-Korea": ("north", "korea"),
    "Kim Jong-un": ("kim", "jong", "un"),
}
HANGUL_END = re.compile("[\uac00-\ud7a3]$")
VOCAB = sorted(set(SURFACES) | {t for toks in MULTI.values() for t in toks})
PREFIXES = ["mis", "missile", "kor", "nor", "sanc", "zel", "str", "pyo", "rus", "fin", "put"]
# Junk between words: punctuation, line breaks, tags (attributes name vocabulary words that must
# not match), entities.
JUNK = [", ", ". ", "\n", "\n\n", " - ", "<p class=\"korea iran\">", "</p>", "< /p> ", '<a href="x" title="Putin">', "</a>", "&nbsp;", " &amp; ", "'", ": "]
SEPARATORS = [" ", " ", " ", ", ", "\n", "-", ""]

FIELDS = [None, None, None, "title", "body", "source"]


# --- articles -------------------------------------------------------------------------------

# Words three times as often as junk, so that random queries match often enough to test highlights.
_WORDS = sorted({surface for surfaces in SURFACES.values() for surface in surfaces} | set(MULTI))
_piece = st.sampled_from(_WORDS * 3 + JUNK)


@st.composite
def field_text(draw, min_pieces: int, max_pieces: int) -> str | None:
    pieces = draw(st.lists(_piece, min_size=min_pieces, max_size=max_pieces))
    if not pieces and draw(st.booleans()):
        return None
    text = ""
    for piece in pieces:
        text += draw(st.sampled_from(SEPARATORS)) + piece
    return text


articles = st.tuples(field_text(0, 8), field_text(3, 30), field_text(0, 3))


# --- queries as ASTs --------------------------------------------------------------------------


@st.composite
def terms(draw, field=None, fixed_field: bool = False) -> Term:
    tokens = draw(st.lists(st.sampled_from(VOCAB), min_size=1, max_size=2 if draw(st.integers(0, 2)) == 0 else 1))
    if draw(st.integers(0, 3)) == 0:
        tokens[-1] = draw(st.sampled_from(PREFIXES))
        prefix = True
    else:
        prefix = False
    if HANGUL_END.search(tokens[-1]):
        prefix = True  # as the parser reads a word ending in Hangul
    if not fixed_field:
        field = draw(st.sampled_from(FIELDS))
    return Term(tuple(tokens), prefix, field, text=" ".join(tokens) + ("*" if prefix else ""))


@st.composite
def nears(draw) -> Near:
    field = draw(st.sampled_from(FIELDS))

    def operand():
        one = terms(field, fixed_field=True)
        return st.one_of(one, st.lists(one, min_size=2, max_size=3).map(lambda ts: Or(tuple(ts))))

    return Near(draw(operand()), draw(operand()), draw(st.integers(0, 3)), draw(st.booleans()))


@st.composite
def nodes_at(draw, depth: int) -> Node:
    """A random query AST of the shapes the parser produces; deeper levels are mostly terms."""
    # Compound nodes mostly at the top: deep trees cost generation time and find nothing new.
    kind = draw(st.integers(0, (9, 7, 4)[min(depth, 2)]))
    if kind <= 2:
        return draw(terms())
    if kind <= 4:
        return draw(nears())
    children = [draw(nodes_at(depth + 1)) for _ in range(draw(st.integers(2 if kind >= 7 else 1, 3)))]
    if kind >= 7:
        return Or(tuple(children))
    negated = [Not(draw(nodes_at(depth + 1))) for _ in range(draw(st.integers(0, 1)))]
    # NOT first or last: both spellings occur in real queries ("-x y", "y NOT x").
    return And(tuple(negated + children) if draw(st.booleans()) else tuple(children + negated))


nodes = nodes_at(0)


def _check(rules: list[Rule], arts: list[tuple]) -> None:
    engine = Engine(rules)
    for title, body, source in arts:
        found = engine.match(prepare(title, body, source))
        got = [(m.rule_id, [(h.field, h.text, h.start, h.end) for h in m.highlights]) for m in found]
        assert got == reference_match(rules, title, body, source), (title, body, source)


PROPERTY = settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)


@PROPERTY
@given(st.lists(nodes, min_size=1, max_size=6), st.lists(articles, min_size=1, max_size=3))
def test_engine_equals_reference_on_random_asts(queries, arts):
    _check([Rule(f"r{i}", "", q) for i, q in enumerate(queries)], arts)


# --- queries as strings, through the parser -----------------------------------------------


def _word(term: Term) -> str:
    """A term written as query text (a phrase in quotes, a wildcard with ``*``)."""
    text = " ".join(term.tokens) + ("*" if term.prefix else "")
    body = f'"{text}"' if len(term.tokens) > 1 else text
    return f"{term.field}:{body}" if term.field else body


def render(node: Node, draw) -> str:
    """Query text for ``node``, with randomly chosen but equivalent spellings."""
    if isinstance(node, Term):
        return _word(node)
    if isinstance(node, Near):
        op = ("ONEAR" if node.ordered else "NEAR") + f"/{node.distance}"
        return f"({render_operand(node.left)} {op} {render_operand(node.right)})"
    if isinstance(node, Or):
        return "(" + " OR ".join(render(c, draw) for c in node.children) + ")"
    if isinstance(node, And):
        parts = []
        for child in node.children:
            if isinstance(child, Not):
                inner = render(child.child, draw)
                parts.append(draw(st.sampled_from(["NOT ", "-"])) + (inner if isinstance(child.child, (Or, And, Near)) else f"({inner})"))
            else:
                parts.append(render(child, draw))
        return "(" + draw(st.sampled_from([" ", " AND "])).join(parts) + ")"
    raise TypeError(node)


def render_operand(node: Node) -> str:
    if isinstance(node, Term):
        return _word(node)
    return "(" + " OR ".join(_word(t) for t in node.children) + ")"


@st.composite
def query_strings(draw) -> str:
    node = draw(nodes)
    return render(node, draw)


# Free-form query soup: operators, lowercase look-alikes, fields, quotes, dashes, parentheses.
_SOUP = st.lists(
    st.sampled_from(
        ["north", "Korea", "missile*", "kim", "Putin", '"north korea"', "F-35", "AT&T", "Zélensky", "and", "or", "not",
         "AND", "OR", "NOT", "NEAR/1", "ONEAR/2", "-iran", "title:korea", "body:kim", "source:putin", "(", ")", "s",
         "北朝鮮", "ミサイル", "북한", "C++", '"AT&T"', "G7サミット"]
    ),
    min_size=1,
    max_size=8,
).map(" ".join)


def _parsed_rules(queries: list[str]) -> list[Rule]:
    rules = []
    for i, query in enumerate(queries):
        try:
            rules.append(Rule(f"r{i}", query, parse_query(query)))
        except QuerySyntaxError:
            continue
    return rules


@PROPERTY
@given(st.lists(st.one_of(query_strings(), _SOUP), min_size=1, max_size=6), st.lists(articles, min_size=1, max_size=3))
def test_engine_equals_reference_on_parsed_query_strings(queries, arts):
    rules = _parsed_rules(queries)
    assume(rules)
    _check(rules, arts)


@settings(max_examples=100, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
@given(nodes.flatmap(lambda n: st.tuples(st.just(n), st.builds(lambda d: d, st.data()))), st.lists(articles, min_size=1, max_size=3))
def test_rendered_query_parses_to_the_same_meaning(node_and_data, arts):
    """The query text written for an AST parses to a query that matches the same articles (this
    ties the string-based property above to the AST-based one)."""
    node, data = node_and_data
    text = render(node, data.draw)
    parsed = parse_query(text)

    for title, body, source in arts:
        article = make_article(title, body, source)
        assert evaluate(parsed, article) == evaluate(node, article), text


# --- rules changed one by one -----------------------------------------------------------------


def _results(engine: Engine, arts: list[tuple]) -> list:
    out = []
    for title, body, source in arts:
        found = engine.match(prepare(title, body, source))
        out.append([(m.rule_id, [(h.field, h.text, h.start, h.end) for h in m.highlights]) for m in found])
    return out


def _rule(rule_id: str, node: Node, keyed: bool) -> Rule:
    # With query text, identical queries share a program by text; without, by node.
    return Rule(rule_id, repr(node) if keyed else "", node)


@PROPERTY
@given(st.lists(nodes, min_size=2, max_size=6), st.data(), st.lists(articles, min_size=1, max_size=2))
def test_engine_changed_rule_by_rule_equals_a_new_engine(pool, data, arts):
    """After any sequence of additions, removals, query changes and reorderings (through
    ``update``, ``add`` and ``remove``), the engine matches exactly as one built from scratch."""
    draw = data.draw
    keyed = draw(st.booleans())
    rules = [_rule(f"r{i}", draw(st.sampled_from(pool)), keyed) for i in range(draw(st.integers(0, 4)))]
    engine = Engine(rules)
    next_id = len(rules)
    for _ in range(draw(st.integers(1, 6))):
        step = draw(st.sampled_from(["add", "remove", "change", "shuffle", "add-one", "remove-one"]))
        if step in ("add", "add-one"):
            rule = _rule(f"r{next_id}", draw(st.sampled_from(pool)), keyed)
            next_id += 1
            rules = rules + [rule]
            if step == "add-one":
                engine.add(rule)
        elif step in ("remove", "remove-one") and rules:
            gone = rules.pop(draw(st.integers(0, len(rules) - 1)))
            if step == "remove-one":
                engine.remove(gone.id)
        elif step == "change" and rules:
            i = draw(st.integers(0, len(rules) - 1))
            rules = rules[:i] + [_rule(rules[i].id, draw(st.sampled_from(pool)), keyed)] + rules[i + 1 :]
        elif step == "shuffle":
            rules = draw(st.permutations(rules))
        engine.update(rules)
        assert _results(engine, arts) == _results(Engine(rules), arts)
    assert [r.id for r in engine.rules] == [r.id for r in rules]
