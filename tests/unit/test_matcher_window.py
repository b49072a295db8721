"""The matcher's ordered ack window (``newsalert.services.matcher.app.OutputService``), without a broker.

The publisher here is a stand-in whose acknowledgements the test releases by hand: what is checked
is the ordering rule (an event is acked only once its records and those of every earlier event are
acknowledged) and the retry of a failed entry before it is acked. The real producer is exercised
by tests/integration/test_matcher.py.
"""

from __future__ import annotations

import asyncio

import pytest

from newsalert.adapters.broker import Delivered, Record, Sent
from newsalert.errors import TransientError
from newsalert.services.matcher.app import MatcherState, OutputService
from newsalert.services.matcher.processing import Outcome

pytestmark = pytest.mark.timeout(30)


class HandPublisher:
    """Every ``send_many`` gets a future the test resolves; ``publish_many`` succeeds at once."""

    def __init__(self) -> None:
        self.futures: list[asyncio.Future] = []
        self.republished: list[list[Record]] = []

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send_many(self, records) -> Sent:
        future = asyncio.get_running_loop().create_future()
        self.futures.append(future)
        return Sent([future], timeout_s=10)

    async def publish_many(self, records) -> list[Delivered]:
        self.republished.append(list(records))
        return [Delivered("t", 0, 0)]


def outcome(n: int) -> Outcome:
    return Outcome(records=[Record("matches", b"%d" % n)], alerts=1)


async def started(publisher: HandPublisher) -> tuple[OutputService, list[int], MatcherState]:
    state = MatcherState(matcher=None, rules_loaded=0)  # type: ignore[arg-type]
    service = OutputService(lambda: publisher, state, max_in_flight=10)
    await service.start()
    acked: list[int] = []

    async def ack(event) -> None:
        acked.append(event)

    for n in range(3):
        await service.submit(n, outcome(n), ack)
    return service, acked, state


async def settle_loop() -> None:
    for _ in range(20):
        await asyncio.sleep(0.01)


async def test_events_are_acked_in_order_once_acknowledged():
    publisher = HandPublisher()
    service, acked, state = await started(publisher)
    try:
        publisher.futures[2].set_result(Delivered("t", 0, 2))
        publisher.futures[1].set_result(Delivered("t", 0, 1))
        await settle_loop()
        assert acked == []  # the oldest is not acknowledged: nothing behind it may be acked
        publisher.futures[0].set_result(Delivered("t", 0, 0))
        await settle_loop()
        assert acked == [0, 1, 2]
        assert state.consumed == 3 and state.alerts == 3
    finally:
        await service.stop()


async def test_a_failed_entry_is_published_again_before_it_is_acked():
    publisher = HandPublisher()
    service, acked, _ = await started(publisher)
    try:
        publisher.futures[0].set_exception(TransientError("broker said no"))
        publisher.futures[1].set_result(Delivered("t", 0, 1))
        publisher.futures[2].set_result(Delivered("t", 0, 2))
        await settle_loop()
        assert publisher.republished == [[Record("matches", b"0")]]
        assert acked == [0, 1, 2]
    finally:
        await service.stop()


async def test_nothing_is_acked_when_stopping_while_the_broker_fails():
    publisher = HandPublisher()

    async def failing(records):
        raise TransientError("still down")

    publisher.publish_many = failing  # type: ignore[method-assign]
    service, acked, _ = await started(publisher)
    service.stopping = lambda: True
    try:
        publisher.futures[0].set_exception(TransientError("down"))
        for f in publisher.futures[1:]:
            f.set_result(Delivered("t", 0, 9))
        await settle_loop()
        assert acked == []
    finally:
        await service.stop()
