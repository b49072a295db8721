"""``publish_until_acknowledged``: the one retry loop for records that must reach the broker.

The matcher (before acking an article) and the notifier (before settling a record) both need
their records durable whatever the outage: they retry with capped, jittered backoff
(``NEWSALERT_BROKER_BACKOFF_*``) until the broker acknowledges or the process stops; failures go to
the process's broker outage report, not one log line each.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence

from newsalert.adapters.broker import Publisher, Record
from newsalert.adapters.kafka_pacing import broker_outage
from newsalert.domain.backoff import Backoff
from newsalert.errors import TransientError


async def publish_until_acknowledged(
    publisher: Publisher,
    records: Sequence[Record],
    stopping: asyncio.Event | Callable[[], bool],
    backoff: Backoff,
    on_retry: Callable[[TransientError], None] | None = None,
) -> bool:
    """Publish ``records`` and wait for the broker, again after each failure; False when
    ``stopping`` (an event, or a callable) says so before they were taken (the caller then leaves
    its work unsettled, to be redone after a restart)."""
    failures = 0
    while records:
        try:
            await publisher.publish_many(records)
            broker_outage().succeeded()
            return True
        except TransientError as exc:
            if _stopped(stopping):
                return False
            failures += 1
            broker_outage().failed(f"the broker did not take {len(records)} record(s): {exc}")
            if on_retry is not None:
                on_retry(exc)
            await _pause(stopping, backoff.delay(failures))
    return True


def _stopped(stopping: asyncio.Event | Callable[[], bool]) -> bool:
    return stopping.is_set() if isinstance(stopping, asyncio.Event) else stopping()


async def _pause(stopping: asyncio.Event | Callable[[], bool], seconds: float) -> None:
    """Sleep ``seconds``; an ``Event`` being set ends the wait at once."""
    if not isinstance(stopping, asyncio.Event):
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stopping.wait(), timeout=seconds)
