"""The ``rules`` feed wire models: keys, secrets in clear, tombstones, consistency, versions."""

from __future__ import annotations

import base64

import pytest
from pydantic import ValidationError

from newsalert.schemas.rules import Rule, Subscriber
from newsalert.schemas.rules_feed import (
    FeedSubscriber,
    RuleSetSnapshot,
    SubscriptionRecord,
    decode_feed_record,
    effective_version,
    ruleset_key,
    subscription_key,
)

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()


def _sub(sub_id: str = "desk") -> FeedSubscriber:
    return FeedSubscriber(id=sub_id, url="https://example.org/hook", secret=SECRET)


def test_snapshot_round_trip_keeps_secrets_in_clear():
    snap = RuleSetSnapshot(
        version="abc", source="rules.yaml", subscribers=(_sub(),), rules=(Rule(id="r", query="x", notify=("desk",)),),
        lists={"nk": ('"North Korea"', "DPRK")},
    )
    raw = snap.to_json()
    assert SECRET.encode() in raw  # the notifier signs with it: it must travel
    kind, ident, value = decode_feed_record(ruleset_key(), raw)
    assert (kind, ident) == ("ruleset", "")
    assert value.subscribers[0].secret_values() == (SECRET,)
    assert value.lists == {"nk": ('"North Korea"', "DPRK")}
    assert value.rules[0].notify == ("desk",)


def test_feed_subscriber_of_plain_subscriber_keeps_secret():
    plain = Subscriber(id="a", url="https://example.org/", secret=[SECRET, SECRET])
    assert FeedSubscriber.of(plain).secret_values() == (SECRET, SECRET)
    assert "whsec_" not in repr(FeedSubscriber.of(plain))


def test_subscription_round_trip_and_tombstone():
    record = SubscriptionRecord(id="desk", subscriber=_sub(), rules=(Rule(id="r1", query="missile*"),), status="active")
    kind, ident, value = decode_feed_record(subscription_key("desk"), record.to_json())
    assert (kind, ident, value.status) == ("subscription", "desk", "active")
    assert decode_feed_record(b"subscription/desk", None) == ("subscription", "desk", None)


def test_subscription_key_must_match_its_id():
    record = SubscriptionRecord(id="desk", subscriber=_sub(), rule_ids=("r",))
    with pytest.raises(ValueError, match="does not match its key"):
        decode_feed_record(subscription_key("other"), record.to_json())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"id": "x", "subscriber": _sub("desk"), "rule_ids": ("r",)}, "must equal the subscription id"),
        ({"id": "desk", "subscriber": _sub(), "rules": (Rule(id="r", query="x", notify=("z",)),)}, "notify must be empty"),
        ({"id": "desk", "subscriber": _sub()}, "at least one rule"),
    ],
)
def test_inconsistent_subscriptions_are_refused(kwargs, message):
    with pytest.raises(ValidationError, match=message):
        SubscriptionRecord(**kwargs)


def test_unknown_keys_are_ignored():
    assert decode_feed_record(b"something/else", b"{}") is None


def test_effective_version_changes_with_active_subscriptions_only():
    a1 = SubscriptionRecord(id="a", subscriber=_sub("a"), rule_ids=("r",), status="active")
    a2 = a1.model_copy(update={"revision": 2})
    assert effective_version("v1", []) == "v1"
    assert effective_version("v1", [a1]) != "v1"
    assert effective_version("v1", [a1]) != effective_version("v1", [a2])
    assert effective_version("v1", [a1]) == effective_version("v1", [a1])
    assert effective_version("v1", [a1]).startswith("v1+")
