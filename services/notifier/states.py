"""Which subscribers are disabled: the compacted ``deliveries.subscribers`` topic, read and followed.

A ``410 Gone`` answer disables its subscriber: the notifier publishes a ``SubscriberState``
(``disabled``, key = subscriber id) and from then on dead-letters that subscriber's alerts with
reason ``disabled`` instead of sending them. ``newsalert deliveries enable`` publishes
``enabled``. The topic is compacted, so it keeps the latest state of every subscriber for ever.

Persistence: at start the notifier reads the topic from the beginning to its end before it
consumes any alert, so a restart keeps every disabled subscriber disabled. It then follows the
topic in the background, so a state written by another notifier instance (or the CLI) applies
within about a second everywhere. Between a 410 seen by one instance and that second, another
instance may still send one or two alerts to the gone endpoint; each gets its own 410 and is
dead-lettered as ``gone``. Nothing is lost either way: dead letters can be replayed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition  # noqa: F401 - type of _consumer
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from newsalert.config import Settings
from newsalert.errors import TransientError
from newsalert.schemas import SubscriberState

log = logging.getLogger(__name__)

_LOAD_TIMEOUT_S = 60.0


class SubscriberStates:
    """The latest ``SubscriberState`` of every subscriber; see the module docstring."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._topic = settings.topic("deliveries.subscribers")
        self._states: dict[str, SubscriberState] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task | None = None

    def is_disabled(self, subscriber: str) -> bool:
        """True while the subscriber's latest state is ``disabled``."""
        state = self._states.get(subscriber)
        return state is not None and state.status == "disabled"

    def disabled(self) -> dict[str, SubscriberState]:
        """Every disabled subscriber and the state that disabled it."""
        return {sid: s for sid, s in self._states.items() if s.status == "disabled"}

    def apply(self, state: SubscriberState) -> None:
        """Take ``state`` as the subscriber's latest (also before the topic echoes it back)."""
        self._states[state.subscriber] = state

    async def start(self) -> None:
        """Read the topic to its end (raises ``TransientError`` when that fails), then follow it."""
        from newsalert.adapters.delivery_history import metadata_consumer

        self._consumer = metadata_consumer(self._settings, self._topic, "newsalert-notifier-states")
        try:
            await self._consumer.start()
            found = self._consumer.partitions_for_topic(self._topic) or {0}
            self._consumer.unsubscribe()
            partitions = [TopicPartition(self._topic, p) for p in sorted(found)]
            self._consumer.assign(partitions)
            await self._consumer.seek_to_beginning(*partitions)
            ends = await self._consumer.end_offsets(partitions)
            await asyncio.wait_for(self._read_until(ends), timeout=_LOAD_TIMEOUT_S)
        except (KafkaError, asyncio.TimeoutError) as exc:
            await self._consumer.stop()
            raise TransientError(f"cannot read {self._topic}: {exc!r}") from exc
        if self.disabled():
            log.warning("disabled subscribers (410 Gone earlier): %s", ", ".join(sorted(self.disabled())))
        self._task = asyncio.create_task(self._follow(), name="subscriber-states")

    async def stop(self) -> None:
        """Stop following and disconnect."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

    async def _read_until(self, ends: dict[TopicPartition, int]) -> None:
        while True:
            positions = {tp: await self._consumer.position(tp) for tp in ends}
            if all(positions[tp] >= end for tp, end in ends.items()):
                return
            await self._read_batch()

    async def _follow(self) -> None:
        while True:
            try:
                await self._read_batch()
            except KafkaError as exc:  # the broker away: keep the states we have, try again
                log.warning("following %s failed (%s); retrying", self._topic, exc)
                await asyncio.sleep(1.0)

    async def _read_batch(self) -> None:
        batches = await self._consumer.getmany(timeout_ms=500)
        for records in batches.values():
            for record in records:
                self._take(record)

    def _take(self, record) -> None:
        if record.value is None:  # a tombstone: forget the subscriber's state
            if record.key:
                self._states.pop(record.key.decode("utf-8", "replace"), None)
            return
        try:
            state = SubscriberState.model_validate_json(record.value)
        except ValidationError as exc:
            log.error("ignoring a malformed record at %s[%d]@%d: %s", record.topic, record.partition, record.offset, exc)
            return
        self._states[state.subscriber] = state
