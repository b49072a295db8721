"""Rule changes that cost the rules that changed: the live-rules path reuses what it parsed and
changes the running engine rule by rule, with the same result as compiling everything anew."""

from __future__ import annotations

import pytest

from newsalert.config import Settings
from newsalert.domain.live_rules import QueryMemo, merge, snapshot_of, snapshot_rule_set
from newsalert.domain.matching import Engine, prepare
from newsalert.domain.query.parser import parse_query
from newsalert.domain.rulefile import load_rule_text
from newsalert.schemas.rules import Rule
from newsalert.services.matcher.processing import build_matcher, changed_matcher
from tests.unit.test_matcher_live_rules import YAML, sub

ARTICLE = prepare("North Korea fires missiles", "Paris and Berlin react; AT&T shares fall.")


def _file(extra: str = "") -> str:
    return YAML + extra


def _ids(engine: Engine) -> list[str]:
    return [m.rule_id for m in engine.match(ARTICLE)]


def test_snapshot_rebuilt_with_a_query_memo_equals_one_built_anew():
    memo = QueryMemo()
    first = snapshot_of(load_rule_text(_file(), "rules.yaml", env={}))
    old = snapshot_rule_set(first, memo.for_lists(first.lists))
    changed = snapshot_of(load_rule_text(_file("  - id: att\n    query: '\"AT&T\"'\n"), "rules.yaml", env={}))
    reused = snapshot_rule_set(changed, memo.for_lists(changed.lists))
    assert reused == snapshot_rule_set(changed)
    # The unchanged rule's parsed query is the very object of the previous rule set.
    assert reused.rules[0].node is old.rules[0].node


def test_the_query_memo_is_emptied_when_the_term_lists_change():
    memo = QueryMemo()
    nodes = memo.for_lists({})
    nodes["x"] = parse_query("x")
    assert memo.for_lists({}) == {"x": parse_query("x")}
    assert memo.for_lists({"nk": ["Pyongyang"]}) == {}


def test_merge_with_a_query_memo_equals_merge_without():
    base = snapshot_rule_set(snapshot_of(load_rule_text(_file(), "rules.yaml", env={})))
    record = sub("s1", rules=(Rule(id="x", query="Paris OR Berlin"),), rule_ids=("nk",))
    plain = merge(base, {"s1": record})
    memo: dict = {}
    assert merge(base, {"s1": record}, memo) == plain
    assert "Paris OR Berlin" in memo
    assert merge(base, {"s1": record}, memo) == plain


def test_changed_term_lists_ask_for_a_new_engine():
    settings = Settings()
    first = snapshot_rule_set(snapshot_of(load_rule_text(_file(), "rules.yaml", env={})))
    matcher = build_matcher(settings, first, dedup=False)
    with_list = _file().replace("rules:\n", "lists:\n  nk: [Pyongyang]\nrules:\n")
    second = snapshot_rule_set(snapshot_of(load_rule_text(with_list, "rules.yaml", env={})))
    assert changed_matcher(settings, matcher, second, dedup=False) is None


def test_small_changes_are_applied_to_the_running_engine():
    settings = Settings(rules_incremental_max=2)
    first = snapshot_rule_set(snapshot_of(load_rule_text(_file(), "rules.yaml", env={})))
    matcher = build_matcher(settings, first, dedup=False)
    engine = matcher.engine
    assert _ids(engine) == ["nk", "paris"]
    second = snapshot_rule_set(snapshot_of(load_rule_text(_file("  - id: att\n    query: '\"AT&T\"'\n"), "rules.yaml", env={})))
    changed = changed_matcher(settings, matcher, second, dedup=False)
    assert changed is not None and changed.engine is engine
    assert changed.ruleset_version == second.version and "att" in changed.rules
    assert _ids(engine) == ["nk", "paris", "att"] == _ids(Engine(second.rules))


def test_large_changes_ask_for_a_new_engine():
    settings = Settings(rules_incremental_max=1)
    first = snapshot_rule_set(snapshot_of(load_rule_text(_file(), "rules.yaml", env={})))
    matcher = build_matcher(settings, first, dedup=False)
    two_more = _file("  - id: att\n    query: '\"AT&T\"'\n  - id: berlin\n    query: Berlin\n")
    second = snapshot_rule_set(snapshot_of(load_rule_text(two_more, "rules.yaml", env={})))
    assert changed_matcher(settings, matcher, second, dedup=False) is None
    assert _ids(matcher.engine) == ["nk", "paris"]  # left as it was


def test_update_refuses_a_rule_list_with_an_id_twice():
    from tests.unit.reference_eval import Rule as PlainRule

    rules = [PlainRule(f"r{i}", f"q{i}", parse_query(f"q{i}")) for i in range(5)]
    engine = Engine(rules)
    twice = rules + [PlainRule("r1", "other", parse_query("other"))]
    with pytest.raises(ValueError, match="unique"):
        engine.changes(twice)
    engine.update(rules[:2] + [PlainRule("r9", "q9", parse_query("q9"))] + rules[2:])
    assert [r.id for r in engine.rules] == ["r0", "r1", "r9", "r2", "r3", "r4"]
    assert _ids(engine) == []
