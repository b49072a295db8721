"""Reading the delivery topics back: attempts of a subscriber, its dead letters, and replaying them.

Used by ``newsalert deliveries`` and the API's console. Each read stops at the end offsets taken
when it starts (``TopicReader.read_to_end``); records are filtered on the key (the subscriber id)
before they are parsed. A replay re-publishes the dead alerts unchanged (same ``webhook_id``) to
``matches``, where the notifier delivers them as new work with a fresh retry schedule.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from newsalert.adapters.broker import KafkaPublisher, Record
from newsalert.adapters.reading import KafkaReader, TopicReader
from newsalert.config import Settings
from newsalert.errors import TransientError
from newsalert.schemas import DeadDelivery, DeliveryAttempt, SubscriberState

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

_READ_TIMEOUT_S = 120.0


async def read_keyed(
    settings: Settings, topic: str, model: type[M], key: str | None, reader: TopicReader | None = None
) -> list[M]:
    """Every record of logical ``topic`` with ``key`` (all if None), parsed as ``model``, in
    partition order; malformed records are logged and skipped. ``reader``: a started one."""
    if reader is None:
        async with KafkaReader(settings, "newsalert-deliveries-cli", isolation_level="read_committed") as kafka:
            return await read_keyed(settings, topic, model, key, kafka)
    full = settings.topic(topic)
    partitions = await reader.partitions(full)
    if not partitions:
        raise TransientError(f"topic {full} does not exist (run `newsalert topics create`)")
    wanted = key.encode() if key else None
    out: list[M] = []
    async for message in reader.read_to_end(full, partitions, timeout_s=_READ_TIMEOUT_S):
        if (wanted is None or message.key == wanted) and message.value is not None:
            try:
                out.append(model.model_validate_json(message.value))
            except ValidationError as exc:
                log.warning("skipping a malformed record at %s[%d]@%d: %s", full, message.partition, message.offset, exc)
    return out


async def attempts_of(settings: Settings, subscriber: str, limit: int | None = None) -> list[DeliveryAttempt]:
    """The subscriber's recorded attempts, newest first (at most ``limit``)."""
    found = await read_keyed(settings, "deliveries.attempts", DeliveryAttempt, subscriber)
    found.sort(key=lambda a: (a.at, a.attempt), reverse=True)
    return found[:limit] if limit else found


async def dead_of(settings: Settings, subscriber: str, since: datetime | None = None) -> list[DeadDelivery]:
    """The subscriber's dead letters (dead at or after ``since``), one per ``webhook_id`` (the
    latest), oldest first."""
    latest: dict[str, DeadDelivery] = {}
    for dead in await read_keyed(settings, "deliveries.dead", DeadDelivery, subscriber):
        if since is None or dead.dead_at >= since:
            latest[dead.alert.webhook_id] = dead
    return sorted(latest.values(), key=lambda d: d.dead_at)


async def replay(settings: Settings, dead: list[DeadDelivery]) -> int:
    """Re-publish the alerts of ``dead`` to ``matches`` (acknowledged); return how many."""
    if not dead:
        return 0
    publisher = KafkaPublisher(settings, client_id="newsalert-deliveries-replay")
    await publisher.start()
    try:
        topic = settings.topic("matches")
        await publisher.publish_many([Record(topic, d.alert.to_json(), d.alert.subscriber.encode()) for d in dead])
    finally:
        await publisher.stop()
    return len(dead)


async def state_of(settings: Settings, subscriber: str) -> SubscriberState | None:
    """The subscriber's latest delivery state, None if it never changed."""
    states = await read_keyed(settings, "deliveries.subscribers", SubscriberState, subscriber)
    return states[-1] if states else None


async def set_state(settings: Settings, state: SubscriberState) -> None:
    """Publish ``state`` to the compacted ``deliveries.subscribers`` topic (acknowledged)."""
    publisher = KafkaPublisher(settings, client_id="newsalert-deliveries-cli")
    await publisher.start()
    try:
        await publisher.publish(settings.topic("deliveries.subscribers"), state.to_json(), state.subscriber.encode())
    finally:
        await publisher.stop()
