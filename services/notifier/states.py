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

import contextlib
import logging

from pydantic import ValidationError

from newsalert.adapters.followed import FollowedTopic
from newsalert.adapters.reading import KafkaReader, Message, TopicReader
from newsalert.config import Settings
from newsalert.schemas import SubscriberState

log = logging.getLogger(__name__)

_LOAD_TIMEOUT_S = 60.0


class SubscriberStates:
    """The latest ``SubscriberState`` of every subscriber; see the module docstring."""

    def __init__(self, settings: Settings, reader: TopicReader | None = None) -> None:
        self._settings = settings
        self._topic = settings.topic("deliveries.subscribers")
        self._states: dict[str, SubscriberState] = {}
        self._reader = reader  # None: a Kafka reader of its own, opened by start()
        self._exit = contextlib.AsyncExitStack()
        self._followed: FollowedTopic | None = None

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
        reader = self._reader
        if reader is None:
            reader = await self._exit.enter_async_context(
                KafkaReader(self._settings, "newsalert-notifier-states", isolation_level="read_committed"))
        self._followed = FollowedTopic(reader, self._topic, self._take)
        try:
            await self._followed.load(_LOAD_TIMEOUT_S)
        except BaseException:
            await self._exit.aclose()
            raise
        if self.disabled():
            log.warning("disabled subscribers (410 Gone earlier): %s", ", ".join(sorted(self.disabled())))
        self._followed.follow("subscriber-states")

    async def stop(self) -> None:
        """Stop following and disconnect."""
        if self._followed is not None:
            await self._followed.stop()
        await self._exit.aclose()

    def _take(self, record: Message) -> None:
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
