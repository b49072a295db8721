"""The query language parser: every construct of the language (docs/rules.md), and every error with its column."""

from __future__ import annotations

import pytest

from newsalert.domain.query.ast import And, Near, Not, Or, Term, iter_terms
from newsalert.domain.query.parser import MAX_DEPTH, MAX_TERMS, QuerySyntaxError, parse_query
from newsalert.errors import InputError


def t(*tokens: str, prefix: bool = False, field: str | None = None) -> tuple:
    """A comparable shape of a Term (offsets and source text left out)."""
    return ("T", tokens, prefix, field)


def shape(node):
    """The AST without positions, for compact comparisons."""
    if isinstance(node, Term):
        return t(*node.tokens, prefix=node.prefix, field=node.field)
    if isinstance(node, And):
        return ("AND", *[shape(c) for c in node.children])
    if isinstance(node, Or):
        return ("OR", *[shape(c) for c in node.children])
    if isinstance(node, Not):
        return ("NOT", shape(node.child))
    if isinstance(node, Near):
        return ("ONEAR" if node.ordered else "NEAR", node.distance, shape(node.left), shape(node.right))
    raise AssertionError(node)


def p(query: str):
    return shape(parse_query(query))


def err(query: str) -> QuerySyntaxError:
    with pytest.raises(QuerySyntaxError) as info:
        parse_query(query)
    return info.value


# --- terms and tokenisation -------------------------------------------------------------------------
def test_single_word_is_normalised_like_article_text():
    assert p("Zélensky") == t("zelensky")
    assert p("Straße") == t("strasse")
    assert p("MISSILES") == t("missiles")


def test_word_that_tokenises_to_several_tokens_is_a_phrase():
    assert p("F-35") == t("f", "35")
    assert p("AT&T") == t("at&t")  # a name written with a symbol is one token
    assert p("AT-T") == t("at", "t")
    assert p("Jong-un") == t("jong", "un")
    assert p("Pyongyang's") == t("pyongyang", "s")


def test_phrase_in_quotes_is_one_term_of_consecutive_tokens():
    assert p('"North Korea"') == t("north", "korea")
    # punctuation inside a phrase does not matter
    assert p('"North-Korea"') == t("north", "korea")


def test_term_keeps_its_source_text_and_offsets():
    node = parse_query('Kim "North Korea" missile*')
    assert [(x.text, x.start, x.end) for x in iter_terms(node)] == [
        ("Kim", 0, 3),
        ('"North Korea"', 4, 17),
        ("missile*", 18, 26),
    ]


# --- implicit AND, operators, precedence ------------------------------------------------------------
def test_terms_side_by_side_are_anded():
    assert p("North Korea missiles") == ("AND", t("north"), t("korea"), t("missiles"))
    assert p("North Korea missiles") == p("North AND Korea AND missiles")


def test_operators_are_uppercase_only():
    assert p("cats and dogs") == ("AND", t("cats"), t("and"), t("dogs"))
    assert p("cats or dogs") == ("AND", t("cats"), t("or"), t("dogs"))
    assert p("cats not dogs") == ("AND", t("cats"), t("not"), t("dogs"))
    assert p("cats Near/2 dogs") == ("AND", t("cats"), t("near", "2"), t("dogs"))
    assert p("ANDROID NEARBY ORACLE NOTE") == ("AND", t("android"), t("nearby"), t("oracle"), t("note"))


def test_minus_and_not_are_negation():
    assert p("Korea -South") == ("AND", t("korea"), ("NOT", t("south")))
    assert p("Korea NOT South") == ("AND", t("korea"), ("NOT", t("south")))
    assert p("Korea AND NOT South") == ("AND", t("korea"), ("NOT", t("south")))
    assert p('Korea -"South Korea"') == ("AND", t("korea"), ("NOT", t("south", "korea")))
    assert p("Korea -(South OR Seoul)") == ("AND", t("korea"), ("NOT", ("OR", t("south"), t("seoul"))))


def test_hyphen_inside_a_word_is_not_negation():
    assert p("Kim Jong-un") == ("AND", t("kim"), t("jong", "un"))


def test_double_negation_cancels():
    assert p("NOT NOT Iran") == t("iran")
    assert p("Korea -(NOT Iran)") == ("AND", t("korea"), t("iran"))


def test_and_binds_tighter_than_or():
    assert p("sanctions OR Russia AND Iran") == ("OR", t("sanctions"), ("AND", t("russia"), t("iran")))
    assert p("Russia Iran OR sanctions") == ("OR", ("AND", t("russia"), t("iran")), t("sanctions"))


def test_near_binds_tighter_than_and():
    assert p("Moscow Kim NEAR/1 Putin") == ("AND", t("moscow"), ("NEAR", 1, t("kim"), t("putin")))


def test_not_binds_tighter_than_near_so_not_in_near_is_an_error():
    e = err("NOT Kim NEAR/2 Putin")
    assert e.column == 1 and "NOT inside a NEAR operand" in e.message


def test_parentheses_group():
    assert p("(sanctions OR Russia) AND Iran") == ("AND", ("OR", t("sanctions"), t("russia")), t("iran"))


def test_nested_and_or_of_the_same_kind_are_flattened():
    assert p("(a b) (c d)") == ("AND", t("a"), t("b"), t("c"), t("d"))
    assert p("(a OR b) OR (c OR (d OR e))") == ("OR", t("a"), t("b"), t("c"), t("d"), t("e"))
    assert p("((((x))))") == t("x")


# --- wildcards --------------------------------------------------------------------------------------
def test_trailing_wildcard_on_word_and_phrase():
    assert p("missile*") == t("missile", prefix=True)
    assert p('"ballistic missile*"') == t("ballistic", "missile", prefix=True)
    assert p("mis*") == t("mis", prefix=True)
    # the wildcard applies to the last token of a multi-token word
    assert p("ab-cde*") == t("ab", "cde", prefix=True)


@pytest.mark.parametrize(
    "query, column, fragment",
    [
        ("mi*", 3, "at least 3"),
        ("F-35*", 5, "at least 3"),  # applies to "35"
        ('"big mi*"', 8, "at least 3"),
        ("*missile", 1, "only allowed at the end"),
        ("mis*sile", 4, "only allowed at the end"),
        ("missile**", 8, "only allowed at the end"),
        ('"ball* missile"', 6, "only allowed at the end"),
        ("*", 1, "must follow"),
        ("missile-*", 9, "must follow"),
        ('"missile"*', 10, "inside the quotes"),
    ],
)
def test_bad_wildcards(query, column, fragment):
    e = err(query)
    assert e.column == column, e.message
    assert fragment in e.message


# --- NEAR / ONEAR -----------------------------------------------------------------------------------
def test_near_and_onear():
    assert p("Kim NEAR/5 Putin") == ("NEAR", 5, t("kim"), t("putin"))
    assert p("Kim ONEAR/0 Putin") == ("ONEAR", 0, t("kim"), t("putin"))
    assert p("a NEAR/100 b") == ("NEAR", 100, t("a"), t("b"))


def test_near_operands_may_be_phrases_wildcards_and_ors_of_those():
    assert p('(Kim OR "Kim Jong-un") NEAR/3 missile*') == (
        "NEAR",
        3,
        ("OR", t("kim"), t("kim", "jong", "un")),
        t("missile", prefix=True),
    )
    assert p("(a OR (b OR c)) NEAR/1 d") == ("NEAR", 1, ("OR", t("a"), t("b"), t("c")), t("d"))


@pytest.mark.parametrize(
    "query, column, fragment",
    [
        ("a NEAR b", 3, "NEAR needs a distance"),
        ("a ONEAR b", 3, "ONEAR needs a distance"),
        ("a NEAR/ b", 8, "whole number"),
        ("a NEAR/x b", 8, "whole number"),
        ("a NEAR/101 b", 8, "from 0 to 100"),
        ("a NEAR/-1 b", 8, "whole number"),
        ("(a AND b) NEAR/2 c", 2, "AND"),
        ("(a b) NEAR/2 c", 2, "AND"),
        ("c NEAR/2 (a OR b d)", 16, "AND"),
        ("a NEAR/2 -b", 10, "NOT inside"),
        ("a NEAR/2 NOT b", 10, "NOT inside"),
        ("a NEAR/1 b NEAR/1 c", 12, "cannot be chained"),
        ("(a NEAR/1 b) NEAR/1 c", 4, "NEAR inside a NEAR"),
        ("title:a NEAR/1 b", 9, "same field"),
        ("a NEAR/1", 3, "needs a term after"),
        ("NEAR/1 a", 1, "needs a term before"),
    ],
)
def test_bad_near(query, column, fragment):
    e = err(query)
    assert e.column == column, e.message
    assert fragment in e.message


# --- fields -----------------------------------------------------------------------------------------
def test_fields_apply_to_word_phrase_and_group():
    assert p("title:Korea") == t("korea", field="title")
    assert p('body:"North Korea"') == t("north", "korea", field="body")
    assert p("source:Reuters") == t("reuters", field="source")
    assert p("title:(Korea AND Russia)") == ("AND", t("korea", field="title"), t("russia", field="title"))
    assert p("title:(Korea OR -x Russia)") == (
        "OR",
        t("korea", field="title"),
        ("AND", ("NOT", t("x", field="title")), t("russia", field="title")),
    )
    assert p("title:(a NEAR/2 b)") == ("NEAR", 2, t("a", field="title"), t("b", field="title"))
    assert p("-title:sport Korea") == ("AND", ("NOT", t("sport", field="title")), t("korea"))
    assert p("title:missile*") == t("missile", prefix=True, field="title")


def test_same_field_inside_a_fielded_group_is_allowed():
    assert p("title:(title:a b)") == ("AND", t("a", field="title"), t("b", field="title"))


def test_colon_not_after_a_name_is_punctuation():
    assert p("12:30") == t("12", "30")
    assert p('"foo:bar"') == t("foo", "bar")


@pytest.mark.parametrize(
    "query, column, fragment",
    [
        ("foo:bar", 1, "unknown field 'foo:'"),
        ("Korea author:Smith", 7, "unknown field 'author:'"),
        ("Title:Korea", 1, "unknown field 'Title:'"),
        ("https://example.org", 1, "unknown field 'https:'"),
        ("title: Korea", 1, "must be directly followed"),
        ("title:", 1, "must be directly followed"),
        ("title:-x", 7, "not to '-'"),
        ("title:(body:x)", 8, "only one field"),
        ("title:body:x", 1, "must be directly followed"),
    ],
)
def test_bad_fields(query, column, fragment):
    e = err(query)
    assert e.column == column, e.message
    assert fragment in e.message


# --- queries that could match an article containing none of their terms ----------------------------
@pytest.mark.parametrize(
    "query, column",
    [
        ("NOT Iran", 1),
        ("-Iran", 1),
        ("-(a)", 1),
        ("-(a OR b)", 1),
        ("missiles OR NOT Iran", 13),
        ("NOT Iran OR missiles", 1),
        ("a OR (NOT b)", 6),
        ("a OR -b -c", 6),
        ("(NOT a NOT b) c", 2),
        ("x (y OR NOT z)", 9),
    ],
)
def test_purely_negative_queries_are_rejected(query, column):
    e = err(query)
    assert e.column == column, e.message
    assert "none of its terms" in e.message or "only excludes" in e.message


def test_negative_parts_next_to_a_positive_one_are_fine():
    assert p("a OR (b -c)") == ("OR", t("a"), ("AND", t("b"), ("NOT", t("c"))))
    assert p("-a -b c") == ("AND", ("NOT", t("a")), ("NOT", t("b")), t("c"))


# --- structural errors ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "query, column, fragment",
    [
        ("", 1, "empty query"),
        ("   ", 1, "empty query"),
        ("(a", 1, "never closed"),
        ("x (a OR (b)", 3, "never closed"),
        ("a)", 2, "no matching ("),
        ("(a))", 4, "no matching ("),
        (")", 1, "no matching ("),
        ('"North Korea', 1, "never closed"),
        ('a "b" "c', 7, "never closed"),
        ("a AND", 3, "AND needs a term after"),
        ("AND a", 1, "AND needs a term before"),
        ("a OR", 3, "OR needs a term after"),
        ("OR a", 1, "OR needs a term before"),
        ("a AND OR b", 3, "AND needs a term after"),
        ("a NOT", 3, "NOT needs a term after"),
        ("(a OR) b", 4, "OR needs a term after"),
        ("()", 1, "empty group"),
        ("a (  ) b", 3, "empty group"),
        ('""', 1, "empty phrase"),
        ('a "  "', 3, "empty phrase"),
        ('"!!"', 1, "no letters or digits"),
        ("!!", 1, "no letters or digits"),
        ("x - y", 3, "'-' must be directly followed"),
        ("x -", 3, "'-' must be directly followed"),
    ],
)
def test_structural_errors(query, column, fragment):
    e = err(query)
    assert e.column == column, e.message
    assert fragment in e.message


def test_limits():
    ok = " OR ".join(f"w{i}" for i in range(MAX_TERMS))
    assert len(list(iter_terms(parse_query(ok)))) == MAX_TERMS
    too_many = ok + " OR last"
    e = err(too_many)
    assert "too many terms" in e.message and e.column == too_many.index("last") + 1

    deep = "(" * MAX_DEPTH + "x" + ")" * MAX_DEPTH
    assert p(deep) == t("x")
    deeper = "(" * (MAX_DEPTH + 1) + "x" + ")" * (MAX_DEPTH + 1)
    e = err(deeper)
    assert "nested too deeply" in e.message and e.column == MAX_DEPTH + 1


def test_error_is_an_input_error_with_caret_excerpt():
    e = err("Korea AND (missiles OR")
    assert isinstance(e, InputError)
    assert e.query == "Korea AND (missiles OR"
    assert e.excerpt() == "Korea AND (missiles OR\n                    ^"
    assert "column 21" in str(e)


def test_excerpt_of_a_multiline_query_shows_the_offending_line():
    e = err("Korea\nAND (x OR\n)")
    assert e.column == 14  # offsets count the newlines
    assert e.excerpt() == "AND (x OR\n       ^"


def test_non_string_query_is_an_error():
    with pytest.raises(QuerySyntaxError):
        parse_query(None)  # type: ignore[arg-type]
