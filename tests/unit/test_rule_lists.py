"""Named term lists (``lists:`` + ``@name``) and rule filters (``languages:``, ``sources:``)."""

from __future__ import annotations

import pytest

from newsalert.domain.live_rules import snapshot_of, snapshot_rule_set
from newsalert.domain.matching import Engine
from newsalert.domain.query.ast import Or, Term
from newsalert.domain.query.parser import parse_list, parse_query
from newsalert.domain.rulefile import load_rule_text
from newsalert.errors import QuerySyntaxError, RuleFileError
from newsalert.schemas import Article
from newsalert.services.matcher.processing import ArticleMatcher
from tests.support import SECRET

LISTS = {"north_korea": [parse_list(x) for x in ('"North Korea"', "DPRK", "Pyongyang")]}

FILE = f"""\
subscribers:
  - id: desk
    url: https://example.org/desk
    secret: {SECRET}
lists:
  north_korea: ['"North Korea"', DPRK, Pyongyang]
rules:
  - id: nk
    query: '@north_korea AND missile*'
    notify: [desk]
  - id: nk-fr
    query: '@north_korea'
    languages: [fr]
    notify: [desk]
  - id: wires
    query: missile*
    sources: [Reuters, "AP"]
    notify: [desk]
"""


def matched(rule_set, title: str, language: str | None = None, source: str | None = None) -> set[str]:
    matcher = ArticleMatcher(Engine(rule_set.rules), rule_set.rules, rule_set.version, matches_topic="m", rejected_topic="r")
    article = Article(id="a", title=title, language=language, source=source)
    return {alert.rule.id for alert in matcher.alerts_for(article)}


# --- parser -----------------------------------------------------------------------------------
def test_a_list_reference_is_an_or_of_its_items():
    node = parse_query("@north_korea AND missile*", LISTS)
    nk = node.children[0]
    assert isinstance(nk, Or) and [t.tokens for t in nk.children] == [("north", "korea"), ("dprk",), ("pyongyang",)]


def test_a_field_applies_to_every_item_and_lists_work_in_near():
    node = parse_query("title:(@north_korea NEAR/3 missile*)", LISTS)
    assert {t.field for t in node.left.children} == {"title"}


def test_an_unknown_list_is_an_error_at_the_at_sign():
    with pytest.raises(QuerySyntaxError) as info:
        parse_query("missile AND @nk", LISTS)
    assert info.value.column == 13 and "unknown term list @nk" in info.value.message and "@north_korea" in info.value.message


def test_a_quoted_handle_is_text_not_a_list():
    node = parse_query('"@bbc"')
    assert isinstance(node, Term) and node.tokens == ("bbc",)


def test_list_items_count_towards_the_term_limit():
    big = {"big": [parse_list(f"w{i}") for i in range(600)]}
    with pytest.raises(QuerySyntaxError, match="too many terms"):
        parse_query("@big OR @big", big)


@pytest.mark.parametrize("item", ["a AND b", "title:x", "(a OR b)", "@other", "NOT a"])
def test_a_list_item_is_one_word_or_phrase(item):
    with pytest.raises(QuerySyntaxError):
        parse_list(item)


# --- rule file --------------------------------------------------------------------------------
def test_lists_and_filters_in_a_rule_file_match_as_documented():
    rs = load_rule_text(FILE, "rules.yaml", env={})
    assert matched(rs, "DPRK tests a missile") == {"nk"}  # no source: the wires rule is filtered out
    assert matched(rs, "DPRK tests a missile", source="reuters ") == {"nk", "wires"}
    assert matched(rs, "Pyongyang hier", language="fr-FR") == {"nk-fr"}
    assert matched(rs, "Pyongyang today", language="en") == set()
    assert matched(rs, "Pyongyang today") == set()  # no language: a rule filtered by language does not match


def test_an_unknown_list_in_a_file_is_reported_at_its_line_and_column():
    text = FILE.replace("'@north_korea AND missile*'", "'@nk AND missile*'")
    with pytest.raises(RuleFileError) as info:
        load_rule_text(text, "rules.yaml", env={})
    (problem,) = info.value.problems
    assert (problem.line, problem.column) == (9, 13) and "unknown term list @nk" in problem.message


def test_bad_list_definitions_are_located():
    text = FILE.replace("north_korea: ['\"North Korea\"', DPRK, Pyongyang]", "north_korea: [DPRK, 'a OR b']\n  9bad: [x]\n  empty: []")
    with pytest.raises(RuleFileError) as info:
        load_rule_text(text, "rules.yaml", env={})
    messages = {(p.line, p.message.split(":")[0]) for p in info.value.problems}
    assert (6, "list 'north_korea'") in messages
    assert any(line == 7 and "list name '9bad'" in m for line, m in messages)
    assert any(line == 8 and "list 'empty'" in m for line, m in messages)


def test_bad_filters_are_located():
    text = FILE.replace("languages: [fr]", "languages: [f r]")
    with pytest.raises(RuleFileError) as info:
        load_rule_text(text, "rules.yaml", env={})
    assert [p.line for p in info.value.problems] == [13]


def test_lists_and_filters_change_the_version_and_survive_the_rules_feed():
    rs = load_rule_text(FILE, "rules.yaml", env={})
    changed = load_rule_text(FILE.replace("DPRK, Pyongyang", "DPRK"), "rules.yaml", env={})
    refiltered = load_rule_text(FILE.replace("languages: [fr]", "languages: [de]"), "rules.yaml", env={})
    assert len({rs.version, changed.version, refiltered.version}) == 3
    rebuilt = snapshot_rule_set(snapshot_of(rs))
    assert rebuilt.version == rs.version and rebuilt.lists == rs.lists
    assert matched(rebuilt, "Pyongyang hier", language="fr") == {"nk-fr"}

