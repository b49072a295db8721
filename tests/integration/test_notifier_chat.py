"""Chat subscribers through the real notifier and broker: each alert arrives as the subscriber's
chat message, a digest as one message listing its alerts, signed like every webhook."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from pydantic import SecretStr

from newsalert.adapters.topics import ensure_topics
from newsalert.config import Settings
from newsalert.domain.delivery.endpoints import Endpoint
from newsalert.domain.delivery.ratelimit import RateLimit
from tests.integration.test_notifier import (  # noqa: F401 - fixtures
    SECRETS,
    Receiver,
    assert_verifies,
    make_alert,
    publish,
    receiver,
    running_notifier,
    settings,
)
from tests.integration.test_notifier_rate_limits import wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "chat"


def _valid(fmt: str, message: dict) -> None:
    schema = json.loads((SCHEMAS / f"{fmt}.schema.json").read_text())
    errors = [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(message)]
    assert not errors, errors[:3]


async def test_alerts_and_a_digest_as_chat_messages(settings: Settings, receiver: Receiver) -> None:
    await ensure_topics(settings)
    endpoints = {
        "alice": Endpoint("alice", receiver.url("alice"), (SecretStr(SECRETS["alice"]),), format="slack"),
        "bob": Endpoint("bob", receiver.url("bob"), (SecretStr(SECRETS["bob"]),), RateLimit.of(None, 2), format="discord"),
    }
    singles = [make_alert(n, "alice") for n in range(2)]
    held = [make_alert(n, "bob") for n in range(3)]
    async with running_notifier(settings, endpoints):
        await publish(settings, [(a.subscriber.encode(), a.to_json()) for a in singles + held])
        assert not await receiver.wait_for({a.webhook_id for a in singles}, 60)
        assert await wait_until(lambda: any(h.subscriber == "bob" for h in receiver.delivered()), 60)
    slack = [assert_verifies(h) for h in receiver.delivered() if h.subscriber == "alice"]
    assert len(slack) == 2
    for message in slack:
        _valid("slack", message)
    assert {m["blocks"][0]["text"]["text"] for m in slack} == {f"*<https://news.example/{n}|Missiles test number {n}>*" for n in range(2)}
    (digest,) = [assert_verifies(h) for h in receiver.delivered() if h.subscriber == "bob"]
    _valid("discord", digest)
    assert digest["content"] == "3 alerts for bob"
    assert all(f"Missiles test number {n}](https://news.example/{n})" in digest["embeds"][0]["description"] for n in range(3))
