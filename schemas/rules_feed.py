"""The compacted ``rules`` topic: the live rule set and the API subscriptions, one record per key.

One partition, ``cleanup.policy=compact``. Key ``ruleset``: a ``RuleSetSnapshot`` (the validated
rule file, written by matchers); key ``subscription/<id>``: a ``SubscriptionRecord`` (written by
the API; a tombstone deletes it); other keys are ignored. The effective rule set is the newest
snapshot plus every ``active`` subscription (``newsalert.domain.live_rules``), and its version
changes whenever what is matched changes. Secrets travel in clear here (the notifier signs with
them): restrict the topic with ACLs and never log its values.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_serializer, model_validator

from newsalert.schemas._common import WIRE_CONFIG, Identifier, UtcDatetime, utc_now
from newsalert.schemas.rules import Rule, Subscriber

RULES_TOPIC = "rules"
"""Logical name of the topic (full name: ``settings.topic(RULES_TOPIC)``)."""
RULESET_KEY = "ruleset"
"""Key of the rule-set snapshot."""
SUBSCRIPTION_PREFIX = "subscription/"
"""Key prefix of a subscription record: ``subscription/<id>``."""
INLINE_RULE_SEPARATOR = "/"
"""Effective id of an inline rule: ``<subscription id>/<rule id>``."""
REASON_MAX = 1_000
"""Longest ``reason`` of a pending subscription, in characters."""
LIST_TERMS_MAX = 1_000
"""Most terms in one named term list."""
LISTS_MAX = 1_000
"""Most named term lists in one rule file."""

SubscriptionStatus = Literal["pending", "active"]
"""``pending`` until the webhook echoed the challenge; only ``active`` subscriptions are matched."""


class FeedSubscriber(Subscriber):
    """A subscriber as carried by the feed: like ``newsalert.schemas.rules.Subscriber``, secrets in clear in JSON."""

    @field_serializer("secret", when_used="json")
    def _clear_secrets(self, secret: tuple[SecretStr, ...]) -> list[str]:
        """The feed must carry the real secrets (see the module docstring); nowhere else does."""
        return [s.get_secret_value() for s in secret]

    @classmethod
    def of(cls, subscriber: Subscriber) -> FeedSubscriber:
        """The feed form of a validated subscriber."""
        return cls(
            id=subscriber.id, url=subscriber.url, secret=subscriber.secret, description=subscriber.description,
            max_per_minute=subscriber.max_per_minute, digest=subscriber.digest, format=subscriber.format,
            batch_max=subscriber.batch_max,
        )


class RuleSetSnapshot(BaseModel):
    """Value of key ``ruleset``: a whole validated rule file and its version."""

    model_config = WIRE_CONFIG

    kind: Literal["ruleset"] = "ruleset"
    version: str = Field(min_length=1, max_length=128, description="Content version (short sha256) of the rule file.")
    source: str = Field("", max_length=4_096, description="The file it was loaded from (for operators).")
    published_at: UtcDatetime = Field(default_factory=utc_now)
    lists: dict[Identifier, tuple[str, ...]] = Field(
        default_factory=dict, max_length=LISTS_MAX, description="Named term lists, used in queries as @name."
    )
    subscribers: tuple[FeedSubscriber, ...] = ()
    rules: tuple[Rule, ...] = ()

    def to_json(self) -> bytes:
        """The record value (UTF-8 JSON, secrets in clear)."""
        return self.model_dump_json().encode()


class SubscriptionRecord(BaseModel):
    """Value of key ``subscription/<id>``: one API subscription (tombstone = deleted)."""

    model_config = WIRE_CONFIG

    kind: Literal["subscription"] = "subscription"
    id: Identifier = Field(description="Subscription id = subscriber id (key of its alerts on matches).")
    revision: int = Field(1, ge=1, description="Incremented by the API on every change of this record.")
    status: SubscriptionStatus = "pending"
    reason: str | None = Field(None, max_length=REASON_MAX, description="Why it is still pending, if it is.")
    subscriber: FeedSubscriber
    rule_ids: tuple[Identifier, ...] = Field((), description="YAML rules this subscriber follows.")
    rules: tuple[Rule, ...] = Field((), description="Inline rules; each notifies this subscriber only (notify stays empty).")
    created_at: UtcDatetime = Field(default_factory=utc_now)
    updated_at: UtcDatetime = Field(default_factory=utc_now)

    @model_validator(mode="after")
    def _consistent(self) -> SubscriptionRecord:
        """The subscriber is the subscription; inline rules name no other subscriber."""
        if self.subscriber.id != self.id:
            raise ValueError(f"subscriber.id {self.subscriber.id!r} must equal the subscription id {self.id!r}")
        for i, rule in enumerate(self.rules):
            if rule.notify:
                raise ValueError(f"rules[{i}].notify must be empty: an inline rule notifies its own subscription")
        if not self.rule_ids and not self.rules:
            raise ValueError("a subscription needs at least one rule (rule_ids or rules)")
        return self

    def to_json(self) -> bytes:
        """The record value (UTF-8 JSON, secret in clear)."""
        return self.model_dump_json().encode()


FeedValue = RuleSetSnapshot | SubscriptionRecord


def subscription_key(subscription_id: str) -> bytes:
    """The record key of a subscription."""
    return (SUBSCRIPTION_PREFIX + subscription_id).encode()


def ruleset_key() -> bytes:
    """The record key of the rule-set snapshot."""
    return RULESET_KEY.encode()


def inline_rule_id(subscription_id: str, rule_id: str) -> str:
    """Effective id of inline rule ``rule_id`` of subscription ``subscription_id``."""
    return f"{subscription_id}{INLINE_RULE_SEPARATOR}{rule_id}"


def decode_feed_record(key: bytes | None, value: bytes | None) -> tuple[str, str, FeedValue | None] | None:
    """``(kind, id, value)`` of one ``rules`` record; None for a key this version does not know.

    ``kind`` is ``"ruleset"`` (id ``""``) or ``"subscription"``; ``value`` None is a tombstone.
    Raises ``ValueError`` (pydantic's ``ValidationError`` included) for a known key whose value is
    not valid: the caller logs it and keeps its previous state for that key.
    """
    name = (key or b"").decode("utf-8", errors="replace")
    if name == RULESET_KEY:
        if value is None:
            return ("ruleset", "", None)
        return ("ruleset", "", RuleSetSnapshot.model_validate_json(value))  # in pydantic-core: twice as fast
    if name.startswith(SUBSCRIPTION_PREFIX):
        sub_id = name[len(SUBSCRIPTION_PREFIX) :]
        if value is None:
            return ("subscription", sub_id, None)
        try:
            parsed = json.loads(value)
        except RecursionError:
            raise ValueError(f"the value of {name!r} is JSON nested too deeply to be a subscription") from None
        record = SubscriptionRecord.model_validate(parsed)
        if record.id != sub_id:
            raise ValueError(f"record id {record.id!r} does not match its key {name!r}")
        return ("subscription", sub_id, record)
    return None


def effective_version(snapshot_version: str, active: Iterable[SubscriptionRecord]) -> str:
    """The version alerts carry: the snapshot's alone, or with the active subscriptions hashed in."""
    parts = sorted((s.id, s.revision) for s in active)
    if not parts:
        return snapshot_version
    encoded = json.dumps([snapshot_version, parts], separators=(",", ":"), ensure_ascii=False)
    return f"{snapshot_version}+{hashlib.sha256(encoded.encode()).hexdigest()[:8]}"

