"""The effective rule set of the ``rules`` feed: the YAML snapshot plus the active API subscriptions.

Pure (no I/O): the matcher feeds it what it consumed from the compacted ``rules`` topic, and the
notifier can do the same for the subscribers. The contract of the feed and the merge rules are in
``newsalert.schemas.rules_feed``'s docstring; in short:

- the snapshot's subscribers and rules, as the YAML file defines them;
- every ``active`` subscription adds its subscriber, adds it to the ``notify`` of each YAML rule
  in ``rule_ids``, and adds each inline rule as ``<subscription id>/<rule id>`` notifying it only;
- a subscription whose id is a YAML subscriber, whose inline query does not parse, or whose
  inline rule id collides, is left out with a warning (the API refuses those at creation);
- the version is ``newsalert.schemas.rules_feed.effective_version`` of the snapshot version and the active
  subscriptions actually merged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from operator import attrgetter
from typing import Any

from newsalert.domain.gcpause import collector_paused
from newsalert.domain.query.parser import TermLists
from newsalert.domain.rulefile import CompiledRule, RuleSet, build_rule_set, compile_rule, parse_term_lists
from newsalert.errors import QuerySyntaxError
from newsalert.schemas.rules import Rule
from newsalert.schemas.rules_feed import FeedSubscriber, RuleSetSnapshot, SubscriptionRecord, effective_version, inline_rule_id


_ID = attrgetter("id")


@dataclass(frozen=True)
class Merged:
    """The effective rule set, and why some subscriptions or references were left out."""

    rule_set: RuleSet
    warnings: tuple[str, ...] = ()


def snapshot_of(rule_set: RuleSet) -> RuleSetSnapshot:
    """The feed snapshot of a loaded rule file (secrets included: see ``newsalert.schemas.rules_feed``)."""
    with collector_paused():
        return _snapshot_of(rule_set)


def _snapshot_of(rule_set: RuleSet) -> RuleSetSnapshot:
    return RuleSetSnapshot(
        version=rule_set.version,
        source=rule_set.source,
        subscribers=tuple(FeedSubscriber.of(s) for s in rule_set.subscribers.values()),
        lists=dict(rule_set.lists),
        rules=tuple(
            Rule(
                id=r.id, query=r.query, notify=r.notify, description=r.description,
                languages=tuple(sorted(r.languages)), sources=tuple(sorted(r.sources)),
            )
            for r in rule_set.rules
        ),
    )


def snapshot_rule_set(snapshot: RuleSetSnapshot, parsed: dict[Any, Any] | None = None) -> RuleSet:
    """The snapshot's own rule set, compiled (``RuleFileError`` if it is not a valid one).

    ``parsed``: a memo of queries parsed with the snapshot's term lists (``QueryMemo``), so that a
    changed snapshot of 100,000 rules parses only the queries that changed.
    """
    built = build_rule_set(
        snapshot.subscribers, snapshot.rules, source=snapshot.source or "<rules feed>", lists=snapshot.lists, parsed=parsed,
    )
    # The snapshot's version names it on every alert; it equals the file's version by construction.
    return replace(built, version=snapshot.version)


class QueryMemo:
    """Query text -> parsed node (and a rule's fields -> its compiled rule, see ``compile_rule``),
    for one set of term lists (a query's meaning depends on them)."""

    def __init__(self) -> None:
        self._lists: dict[str, tuple[str, ...]] | None = None
        self._nodes: dict[Any, Any] = {}

    def for_lists(self, lists: Mapping[str, Sequence[str]]) -> dict[Any, Any]:
        """The memo valid for ``lists`` (emptied when they changed)."""
        key = {name: tuple(items) for name, items in lists.items()}
        if key != self._lists:
            self._lists, self._nodes = key, {}
        return self._nodes

    def trim(self, rule_set: RuleSet) -> None:
        """Forget what no rule uses when the memo outgrows the rules (bounds the memory)."""
        if len(self._nodes) > 4 * len(rule_set.rules) + 1000:
            self._nodes = {rule.query: rule.node for rule in rule_set.rules}


def merge(base: RuleSet, subscriptions: Mapping[str, SubscriptionRecord], parsed: dict[Any, Any] | None = None) -> Merged:
    """``base`` (a compiled snapshot) with the active ``subscriptions`` merged in.

    ``parsed``: a memo of queries parsed with ``base``'s lists (``QueryMemo``).
    """
    warnings: list[str] = []
    subscribers = dict(base.subscribers)
    rules: dict[str, CompiledRule] = dict(zip(map(_ID, base.rules), base.rules))
    base_ids = rules.keys() - ()  # a set, before inline rules are added
    extra_notify: dict[str, list[str]] = {}
    merged: list[SubscriptionRecord] = []
    lists = parse_term_lists(base.lists)  # inline queries of subscriptions may use the file's lists too
    for sub_id in sorted(subscriptions):
        record = subscriptions[sub_id]
        if record.status != "active":
            continue
        if sub_id in base.subscribers:
            warnings.append(f"subscription {sub_id!r} ignored: a subscriber of the rule file has that id")
            continue
        inline = _inline_rules(record, rules, warnings, lists, parsed)
        if inline is None:
            continue
        for rule_id in record.rule_ids:
            if rule_id in base_ids:
                extra_notify.setdefault(rule_id, []).append(sub_id)
            else:
                warnings.append(f"subscription {sub_id!r}: rule {rule_id!r} is not in the rule file (skipped)")
        subscribers[sub_id] = record.subscriber
        rules.update((rule.id, rule) for rule in inline)
        merged.append(record)
    for rule_id, names in extra_notify.items():
        rule = rules[rule_id]
        rules[rule_id] = replace(rule, notify=rule.notify + tuple(n for n in names if n not in rule.notify))
    version = effective_version(base.version, merged)
    return Merged(RuleSet(tuple(rules.values()), subscribers, version, base.source, base.lists), tuple(warnings))


def _inline_rules(
    record: SubscriptionRecord, existing: Mapping[str, CompiledRule], warnings: list[str], lists: TermLists,
    parsed: dict[Any, Any] | None = None,
) -> list[CompiledRule] | None:
    """The subscription's inline rules compiled, or None (with a warning) if one is unusable."""
    out = []
    for rule in record.rules:
        rule_id = inline_rule_id(record.id, rule.id)
        if rule_id in existing:
            warnings.append(f"subscription {record.id!r} ignored: rule id {rule_id!r} already exists")
            return None
        try:
            compiled = compile_rule(rule.model_copy(update={"id": rule_id, "notify": (record.id,)}), lists=lists, parsed=parsed)
        except QuerySyntaxError as exc:
            warnings.append(f"subscription {record.id!r} ignored: rule {rule.id!r}: {exc}")
            return None
        out.append(compiled)
    return out
