"""Fuzzing the topics the notifier follows or reads back, on the real broker, with the notifier in
process: random keys and values (JSON nested 100,000 deep, random JSON, valid records with one
field broken, tombstones) on ``rules``, ``deliveries.subscribers`` and ``matches.claims`` before it
starts, more on ``rules`` while it runs, and alerts with corrupt or oversized de-duplication
headers among garbage on ``matches``. A valid record after the garbage on each topic must still
take effect: the API subscription written before start is delivered to, the one written after the
garbage while running too, the subscriber disabled after the garbage gets nothing, and alerts whose
header is corrupt are delivered. The notifier keeps running throughout. The rules feed as the
matcher and the API read it is covered per record in tests/unit/test_fuzz_records.py.
"""

from __future__ import annotations

import asyncio
import json
import random

import pytest
from pydantic import ValidationError

from newsalert.adapters.broker import KafkaPublisher, Record
from newsalert.adapters.topics import ensure_topics
from newsalert.config import Settings
from newsalert.schemas import Alert, SubscriberState
from newsalert.schemas.dedup import DEDUP_HEADER
from newsalert.schemas.rules_feed import RULES_TOPIC, subscription_key
from newsalert.services.notifier.main import NotifierProcess
from tests.integration.test_notifier import (  # noqa: F401 - fixtures
    Receiver,
    endpoints_for,
    make_alert,
    read_rejected,
    receiver,
    settings,
)
from tests.integration.test_notifier_feed import subscription
from tests.integration.topic_reader import read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]

DEEP = [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000]


def garbage(rng: random.Random, n: int, keys: list[bytes], valid: bytes) -> list[tuple[bytes | None, bytes | None]]:
    """``n`` (key, value) pairs: random and deep values, random JSON, ``valid`` with a field broken."""
    out = []
    for i in range(n):
        broken = json.loads(valid)
        broken[rng.choice(sorted(broken))] = rng.choice([None, 5, "x", [], {"a": [1]}, "\x00" * 10])
        value = [rng.randbytes(rng.randint(0, 200)), rng.choice(DEEP), json.dumps(rng.choice([1, "x", [], {}, None])).encode(),
                 json.dumps(broken).encode(), b"\xff\xfe" + rng.randbytes(10), None][i % 6]
        out.append((rng.choice(keys + [rng.randbytes(6), b""]), value))
    return out


def is_alert(value: bytes | None) -> bool:
    try:
        Alert.model_validate_json(value or b"")
    except ValidationError:
        return False
    return True


async def publish(settings: Settings, records: list[Record]) -> None:
    publisher = KafkaPublisher(settings, client_id="fuzz")
    await publisher.start()
    try:
        await publisher.publish_many(records)
    finally:
        await publisher.stop()


async def test_garbage_on_followed_topics_is_skipped_and_the_next_valid_record_applies(settings: Settings, receiver: Receiver) -> None:
    await ensure_topics(settings)
    rng = random.Random(4)
    rules, states, claims = settings.topic(RULES_TOPIC), settings.topic("deliveries.subscribers"), settings.topic("matches.claims")
    early = subscription(receiver, "api-early")
    disabled = SubscriberState(subscriber="bob", status="disabled", reason="410 Gone", at="2024-01-01T00:00:00Z")
    claim = b'{"claims": [{"subscriber": "alice", "rule": "r-missiles", "fingerprints": ["f"], "at": 1.0, "by": "0:1"}]}'
    rule_keys = [b"ruleset", subscription_key("api-early"), subscription_key("x")]
    before = [Record(rules, v, k) for k, v in garbage(rng, 30, rule_keys, early.to_json())]
    before += [Record(states, v, k) for k, v in garbage(rng, 30, [b"bob", b"alice"], disabled.model_dump_json().encode())]
    before += [Record(claims, v, k) for k, v in garbage(rng, 30, [b"0:1"], claim)]
    # The valid records come after the garbage on each topic.
    before += [Record(rules, early.to_json(), subscription_key("api-early")), Record(states, disabled.model_dump_json().encode(), b"bob")]
    await publish(settings, before)

    process = NotifierProcess(settings, endpoints_for(receiver, "alice", "bob"))
    task = asyncio.create_task(process.run())
    try:
        await asyncio.sleep(0)
        matches = settings.topic("matches")
        bad_alerts = [Record(matches, v, k) for k, v in garbage(rng, 30, [b"alice"], make_alert(0, "alice").to_json())]
        alice = [make_alert(n, "alice") for n in range(1, 5)]
        headers = [DEEP[0], json.dumps([f"f{i}" for i in range(50)]).encode(), b"\xff", b"[1, [2]]"]
        good = [Record(matches, a.to_json(), b"alice", ((DEDUP_HEADER, h),)) for a, h in zip(alice, headers)]
        early_alert, bob_alert = make_alert(10, "api-early"), make_alert(11, "bob")
        good += [Record(matches, a.to_json(), a.subscriber.encode()) for a in (early_alert, bob_alert)]
        await publish(settings, bad_alerts + good)
        expected = {a.webhook_id for a in alice} | {early_alert.webhook_id}
        missing = await receiver.wait_for(expected, timeout=60)
        assert not missing, f"{len(missing)} valid alerts after garbage never arrived"

        # While it runs: more garbage on the rules feed, then a new subscription and its alert.
        late = subscription(receiver, "api-late")
        during = [Record(rules, v, k) for k, v in garbage(rng, 30, [subscription_key("api-late")], late.to_json())]
        await publish(settings, during + [Record(rules, late.to_json(), subscription_key("api-late"))])
        late_alert = make_alert(12, "api-late")
        await publish(settings, [Record(matches, late_alert.to_json(), b"api-late")])
        assert not await receiver.wait_for({late_alert.webhook_id}, timeout=60), "the subscription written after garbage was not taken"
        invalid = sum(1 for r in bad_alerts if not is_alert(r.value))  # a broken field may still be valid
        rejected = await read_rejected(settings, invalid)
        dead = await read_topic(settings.kafka_bootstrap, settings.topic("deliveries.dead"), expected=1, timeout=30)
        assert not task.done(), "the notifier stopped on bad input"
    finally:
        process.stop()
        await asyncio.wait_for(task, timeout=30)
    assert bob_alert.webhook_id not in receiver.delivered_ids(), "the state written after garbage (bob disabled) was lost"
    assert [json.loads(r.value)["alert"]["webhook_id"] for r in dead] == [bob_alert.webhook_id]
    assert len(rejected) == invalid and all(r.reason for r in rejected)
    print(f"\nfollowed-topics fuzz: {len(before) - 2} bad records on rules, deliveries.subscribers and matches.claims before start, "
          f"{len(during)} on rules while running, {len(bad_alerts)} on matches ({len(rejected)} dead letters), "
          f"{len(headers)} alerts with corrupt dedup headers delivered; every valid record after the garbage applied")
