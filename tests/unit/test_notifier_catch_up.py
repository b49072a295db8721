"""An alert for a subscriber not known yet makes the notifier catch up with the rules feed once
before it calls the subscriber unknown (the subscription may be a moment old)."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import SecretStr

from newsalert.domain.alerts import new_alert
from newsalert.domain.delivery.endpoints import Endpoint
from newsalert.schemas import Article
from newsalert.services.notifier.intake import Unusable, decode_record
from tests.support import SECRET


class LateDirectory(dict):
    """Endpoints by id; ``catch_up`` brings in what the feed had not delivered yet."""

    def __init__(self, arriving: dict[str, Endpoint]) -> None:
        super().__init__()
        self.arriving = arriving
        self.catch_ups = 0

    async def catch_up(self) -> None:
        self.catch_ups += 1
        self.update(self.arriving)
        self.arriving = {}


def alert_for(subscriber: str) -> bytes:
    return new_alert(Article(id="a1", title="t"), "r1", "t", subscriber, ruleset_version="v").to_json()


def decode(value: bytes, directory: LateDirectory):
    return asyncio.run(decode_record(value, False, directory, directory.catch_up))


def test_subscriber_arriving_with_the_feed_is_found_after_one_catch_up() -> None:
    desk = Endpoint("desk", "https://hooks.example.org/desk", (SecretStr(SECRET),))
    directory = LateDirectory({"desk": desk})
    decoded = decode(alert_for("desk"), directory)
    alert, endpoint, attempt, history = decoded.item, decoded.endpoint, decoded.attempt, decoded.history
    assert (alert.subscriber, endpoint, attempt, history, directory.catch_ups) == ("desk", desk, 1, [], 1)


def test_subscriber_unknown_after_the_catch_up_is_unusable() -> None:
    directory = LateDirectory({})
    with pytest.raises(Unusable) as info:
        decode(alert_for("nobody"), directory)
    assert info.value.error_type == "UnknownSubscriber" and directory.catch_ups == 1


def test_malformed_record_is_rejected_without_a_catch_up() -> None:
    directory = LateDirectory({})
    with pytest.raises(Unusable):
        decode(b"{not json", directory)
    assert directory.catch_ups == 0
