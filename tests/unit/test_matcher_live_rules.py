"""The effective rule set of the rules feed (``newsalert.domain.live_rules``): snapshot + subscriptions."""

from __future__ import annotations

import pytest

from newsalert.domain.live_rules import merge, snapshot_of, snapshot_rule_set
from newsalert.domain.rulefile import load_rule_text
from newsalert.errors import RuleFileError
from newsalert.schemas.rules import Rule
from newsalert.schemas.rules_feed import FeedSubscriber, RuleSetSnapshot, SubscriptionRecord
from tests.support import SECRET

YAML = f"""\
subscribers:
  - id: desk
    url: https://example.org/desk
    secret: {SECRET}
rules:
  - id: nk
    query: '"North Korea" AND missile*'
    notify: [desk]
  - id: paris
    query: Paris
"""


def sub(sub_id: str, status: str = "active", **kwargs) -> SubscriptionRecord:
    subscriber = FeedSubscriber(id=sub_id, url=f"https://example.org/{sub_id}", secret=SECRET)
    return SubscriptionRecord(id=sub_id, subscriber=subscriber, status=status, **kwargs)


@pytest.fixture
def base():
    return snapshot_rule_set(snapshot_of(load_rule_text(YAML, "rules.yaml", env={})))


def test_a_snapshot_rebuilds_into_the_file_rule_set():
    loaded = load_rule_text(YAML, "rules.yaml", env={})
    snap = snapshot_of(loaded)
    rebuilt = snapshot_rule_set(RuleSetSnapshot.model_validate_json(snap.to_json()))
    assert rebuilt.version == loaded.version
    assert [(r.id, r.query, r.notify) for r in rebuilt.rules] == [(r.id, r.query, r.notify) for r in loaded.rules]
    assert rebuilt.subscribers["desk"].secret_values() == (SECRET,)


def test_an_invalid_snapshot_is_refused_with_every_problem():
    snap = RuleSetSnapshot(version="v", rules=(Rule(id="a", query="(open", notify=("ghost",)), Rule(id="b", query="x AND")))
    with pytest.raises(RuleFileError) as info:
        snapshot_rule_set(snap)
    assert len(info.value.problems) == 2


def test_no_subscriptions_keeps_the_snapshot_version(base):
    merged = merge(base, {})
    assert merged.rule_set.version == base.version and merged.warnings == ()


def test_active_subscriptions_follow_file_rules_and_add_inline_rules(base):
    merged = merge(base, {
        "api1": sub("api1", rule_ids=("paris", "nk"), rules=(Rule(id="berlin", query="Berlin"),)),
        "api2": sub("api2", status="pending", rule_ids=("paris",)),
    })
    rules = {r.id: r for r in merged.rule_set.rules}
    assert rules["paris"].notify == ("api1",)
    assert rules["nk"].notify == ("desk", "api1")
    assert rules["api1/berlin"].notify == ("api1",) and rules["api1/berlin"].query == "Berlin"
    assert set(merged.rule_set.subscribers) == {"desk", "api1"}  # pending is not matched
    assert merged.rule_set.version.startswith(base.version + "+")


def test_unusable_subscriptions_are_left_out_with_a_reason(base):
    merged = merge(base, {
        "desk": sub("desk", rule_ids=("paris",)),
        "bad": sub("bad", rules=(Rule(id="q", query="(unclosed"),)),
        "stale": sub("stale", rule_ids=("gone",), rules=(Rule(id="ok", query="ok"),)),
    })
    text = " | ".join(merged.warnings)
    assert "'desk' ignored" in text and "'bad' ignored" in text and "'gone' is not in the rule file" in text
    assert set(merged.rule_set.subscribers) == {"desk", "stale"}
    assert {r.id for r in merged.rule_set.rules} == {"nk", "paris", "stale/ok"}
