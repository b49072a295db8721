"""A delivered alert's lane does not wait for its attempt record's acknowledgement, but the alert
is settled (its offset committable) only once the broker acknowledged that record."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from pydantic import SecretStr

from newsalert.domain.alerts import new_alert
from newsalert.config import Settings
from newsalert.domain.delivery import outcome as oc
from newsalert.errors import TransientError
from newsalert.schemas import Alert, Article
from newsalert.domain.delivery.endpoints import Endpoint
from newsalert.services.notifier.sender import attempt_record
from newsalert.services.notifier.consumer import Notifier
from newsalert.services.notifier.lanes import Work
from tests.support import SECRET

DESK = Endpoint("desk", "https://hooks.example.org/desk", (SecretStr(SECRET),))
TP = ("matches", 0)


class Sender:
    """Answers 204 at once and remembers which alerts were POSTed, in order."""

    def __init__(self) -> None:
        self.posted: list[str] = []

    async def attempt(self, item, endpoint, number):
        self.posted.append(item.webhook_id)
        result = oc.from_status(204, None)
        return result, attempt_record(item, endpoint, number, result, datetime.now(timezone.utc))


class Sent:
    """A send the test acknowledges (or fails) when it chooses."""

    def __init__(self) -> None:
        self.answer: asyncio.Future = asyncio.get_running_loop().create_future()

    async def wait(self):
        return await self.answer


class Publisher:
    """Records what was sent and re-published; every ``send_many`` waits for the test."""

    def __init__(self) -> None:
        self.sends: list[tuple[list, Sent]] = []
        self.published: list[list] = []

    async def send_many(self, records):
        sent = Sent()
        self.sends.append((list(records), sent))
        return sent

    async def publish_many(self, records):
        self.published.append(list(records))
        return []


class States:
    def is_disabled(self, subscriber: str) -> bool:
        return False


def alert(n: int) -> Alert:
    return new_alert(Article(id=f"a{n}", title="t"), "r1", "t", "desk", ruleset_version="v")


async def _settle_idle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def _notifier(sender: Sender, publisher: Publisher) -> Notifier:
    return Notifier(Settings(), {"desk": DESK}, sender=sender, publisher=publisher, states=States())


def test_lane_moves_on_before_the_ack_and_settles_only_after_it() -> None:
    async def scenario() -> None:
        sender, publisher = Sender(), Publisher()
        notifier = _notifier(sender, publisher)
        alerts = [alert(1), alert(2)]
        for offset, a in enumerate(alerts):
            notifier.lanes.queue(Work(notifier.tracker.add(TP, offset), a, DESK))
        await _settle_idle()
        # Both POSTed, in order, while their attempt records (sent together) are not acknowledged ...
        assert sender.posted == [a.webhook_id for a in alerts]
        assert [[r.topic for r in records] for records, _ in publisher.sends] == [["deliveries.attempts"] * 2]
        # ... so nothing is committable, and the partition still counts work in progress.
        assert notifier.tracker.to_commit() == {} and notifier.lanes.in_progress(TP) == 2 and notifier.stats.delivered == 0
        publisher.sends[0][1].answer.set_result([])
        await _settle_idle()
        assert notifier.tracker.to_commit() == {TP: 2} and notifier.stats.delivered == 2
        assert not notifier.lanes.busy() and notifier.lanes.in_progress(TP) == 0

    asyncio.run(scenario())


def test_alerts_delivered_in_separate_ticks_settle_as_their_own_batches_are_acknowledged() -> None:
    async def scenario() -> None:
        sender, publisher = Sender(), Publisher()
        notifier = _notifier(sender, publisher)
        for offset in range(2):
            notifier.lanes.queue(Work(notifier.tracker.add(TP, offset), alert(offset + 1), DESK))
            await _settle_idle()
        assert len(publisher.sends) == 2
        publisher.sends[1][1].answer.set_result([])
        await _settle_idle()
        assert notifier.tracker.to_commit() == {}  # offset 1 settled, offset 0 still holds it back
        publisher.sends[0][1].answer.set_result([])
        await _settle_idle()
        assert notifier.tracker.to_commit() == {TP: 2} and notifier.stats.delivered == 2

    asyncio.run(scenario())


def test_a_failed_ack_publishes_the_records_again_before_settling() -> None:
    async def scenario() -> None:
        sender, publisher = Sender(), Publisher()
        notifier = _notifier(sender, publisher)
        notifier.lanes.queue(Work(notifier.tracker.add(TP, 0), alert(1), DESK))
        await _settle_idle()
        records, sent = publisher.sends[0]
        sent.answer.set_exception(TransientError("broker away"))
        await _settle_idle()
        assert publisher.published == [records]
        assert notifier.tracker.to_commit() == {TP: 1} and notifier.stats.delivered == 1

    asyncio.run(scenario())
