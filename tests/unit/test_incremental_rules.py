"""Rule changes that cost the rules that changed: the live-rules path reuses what it parsed and
changes the running engine rule by rule, with the same result as compiling everything anew."""

from __future__ import annotations

from newsalert.config import Settings
from newsalert.domain.live_rules import merge, parsed_queries, snapshot_of, snapshot_rule_set
from newsalert.domain.matching import Engine, prepare
from newsalert.domain.rulefile import load_rule_text
from newsalert.schemas.rules import Rule
from newsalert.services.matcher.processing import build_matcher, changed_matcher
from tests.unit.test_matcher_live_rules import YAML, sub

ARTICLE = prepare("North Korea fires missiles", "Paris and Berlin react; AT&T shares fall.")


def _file(extra: str = "") -> str:
    return YAML + extra


def _ids(engine: Engine) -> list[str]:
    return [m.rule_id for m in engine.match(ARTICLE)]


def test_snapshot_rebuilt_from_a_previous_rule_set_equals_one_built_anew():
    old = snapshot_rule_set(snapshot_of(load_rule_text(_file(), "rules.yaml", env={})))
    changed = snapshot_of(load_rule_text(_file("  - id: att\n    query: '\"AT&T\"'\n"), "rules.yaml", env={}))
    reused = snapshot_rule_set(changed, old)
    fresh = snapshot_rule_set(changed)
    assert reused == fresh
    # The unchanged rule's parsed query is the very object of the previous rule set.
    assert reused.rules[0].node is old.rules[0].node


def test_parsed_queries_are_not_reused_when_the_term_lists_change():
    old = snapshot_rule_set(snapshot_of(load_rule_text(_file(), "rules.yaml", env={})))
    assert parsed_queries(old, {}) == {r.query: r.node for r in old.rules}
    assert parsed_queries(old, {"nk": ["Pyongyang"]}) == {}
    assert parsed_queries(None, {}) == {}


def test_merge_with_parsed_queries_equals_merge_without():
    base = snapshot_rule_set(snapshot_of(load_rule_text(_file(), "rules.yaml", env={})))
    record = sub("s1", rules=(Rule(id="x", query="Paris OR Berlin"),), rule_ids=("nk",))
    plain = merge(base, {"s1": record})
    reused = merge(base, {"s1": record}, parsed_queries(plain.rule_set, base.lists))
    assert reused == plain


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
