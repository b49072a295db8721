"""Live rules in a matcher worker: watch the YAML file, publish it, follow the ``rules`` feed.

``LiveRulesService`` starts before the faust app: it reads ``rules`` to its end (publishing the
file's snapshot when the topic holds another version), installs the effective rule set
(``newsalert.domain.live_rules``), then follows the topic and polls the file; a valid change is
published and installed by every worker when read back, an invalid one is logged and ignored.
Run all workers of a group on the same file.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from mode import Service

from newsalert.adapters.broker import KafkaPublisher, Publisher
from newsalert.adapters.followed import FollowedTopic
from newsalert.adapters.reading import KafkaReader, Message, TopicReader
from newsalert.config import Settings
from newsalert.adapters.rule_files import load_rule_file
from newsalert.domain.gcpause import collector_paused
from newsalert.domain.live_rules import QueryMemo, merge, snapshot_of, snapshot_rule_set
from newsalert.domain.rule_items import RuleFileReader
from newsalert.domain.rulefile import RuleFileError, RuleSet
from newsalert.errors import TransientError
from newsalert.schemas.rules_feed import RULES_TOPIC, RuleSetSnapshot, SubscriptionRecord, decode_feed_record, ruleset_key

log = logging.getLogger(__name__)

_CATCH_UP_TIMEOUT_S = 30.0


class FeedState:
    """What has been read from the ``rules`` topic: the newest snapshot and the subscriptions."""

    def __init__(self) -> None:
        self.snapshot: RuleSetSnapshot | None = None
        self.subscriptions: dict[str, SubscriptionRecord] = {}
        self._base: RuleSet | None = None  # the snapshot compiled, cached per snapshot version
        self._queries = QueryMemo()

    def apply(self, key: bytes | None, value: bytes | None) -> bool:
        """Apply one record; True if the effective rule set may have changed."""
        try:
            with collector_paused():  # a snapshot of 100,000 rules
                decoded = decode_feed_record(key, value)
        except ValueError as exc:
            # A foreign or corrupt record: keep the previous state for that key.
            log.error("ignored an invalid record of the rules topic (key %r): %s", key, str(exc)[:500])
            return False
        if decoded is None:
            log.debug("ignored rules record with unknown key %r", key)
            return False
        kind, ident, record = decoded
        if kind == "ruleset":
            if record is None or (self.snapshot is not None and record.version == self.snapshot.version):
                return False
            self.snapshot = record  # type: ignore[assignment]
            return True
        if record is None:
            return self.subscriptions.pop(ident, None) is not None
        self.subscriptions[ident] = record  # type: ignore[assignment]
        return True

    def effective(self) -> RuleSet | None:
        """The effective rule set (None before any snapshot); ``RuleFileError`` for a bad snapshot."""
        if self.snapshot is None:
            return None
        # Queries parsed for an earlier rule set are not parsed again: a change costs the rules
        # that changed.
        parsed = self._queries.for_lists(self.snapshot.lists)
        if self._base is None or self._base.version != self.snapshot.version:
            self._base = snapshot_rule_set(self.snapshot, parsed)
        with collector_paused():
            merged = merge(self._base, self.subscriptions, parsed)
        for warning in merged.warnings:
            log.warning("%s", warning)
        self._queries.trim(merged.rule_set)
        return merged.rule_set


class LiveRulesService(Service):
    """See the module docstring. ``install(rule_set)`` swaps the rule set the agent matches with."""

    def __init__(
        self,
        settings: Settings,
        rules_path: Path,
        file_rule_set: RuleSet,
        install: Callable[[RuleSet], Awaitable[None]],
        *,
        installed_version: str | None = None,
        reader: RuleFileReader | None = None,
        publisher: Publisher | None = None,
        feed_reader: TopicReader | None = None,
        **kwargs,
    ) -> None:
        self.settings = settings
        self.rules_path = rules_path
        self.file_rule_set = file_rule_set
        self.install = install
        # Reloads read only the rule items whose text changed (pass the reader of the first load).
        self.reader = reader or RuleFileReader()
        self.feed = FeedState()
        self.topic = settings.topic(RULES_TOPIC)
        self._publisher = publisher  # None (both): Kafka clients of its own, opened by on_start
        self._feed_reader = feed_reader
        self._exit = contextlib.AsyncExitStack()
        self._followed: FollowedTopic | None = None
        self._changed = asyncio.Event()
        self._fingerprint = file_fingerprint(rules_path)
        self._installed_version = installed_version  # the version the agent matches with now
        super().__init__(**kwargs)

    async def on_start(self) -> None:
        await self._open_clients()
        assert self._feed_reader is not None
        self._followed = FollowedTopic(self._feed_reader, self.topic, self._take)
        try:
            await self._followed.load(_CATCH_UP_TIMEOUT_S)
        except TransientError as exc:
            log.warning("rules topic not read to its end (%s); going on with what was read", exc)
        self._changed.clear()
        newest = self.feed.snapshot.version if self.feed.snapshot else None
        if newest != self.file_rule_set.version:
            log.info("rules topic has version %s, the file %s has %s: publishing the file", newest, self.rules_path, self.file_rule_set.version)
            await self.publish(self.file_rule_set)
            self.feed.apply(ruleset_key(), snapshot_of(self.file_rule_set).to_json())
        await self.rebuild()
        self._followed.follow("rules-feed")

    async def _open_clients(self) -> None:
        """Kafka clients of its own unless a publisher and a reader were given."""
        client = f"newsalert-{self.settings.group('matcher')}-rules"
        if self._publisher is None:
            publisher = KafkaPublisher(self.settings, client_id=client)
            await publisher.start()
            self._exit.push_async_callback(publisher.stop)
            self._publisher = publisher
        if self._feed_reader is None:
            self._feed_reader = await self._exit.enter_async_context(
                KafkaReader(self.settings, f"{client}-feed", max_partition_fetch_bytes=self.settings.rules_feed_max_bytes))

    async def on_stop(self) -> None:
        if self._followed is not None:
            await self._followed.stop()
        await self._exit.aclose()

    def _take(self, message: Message) -> None:
        """Apply one record of the feed; a change wakes the rebuild task."""
        if self.feed.apply(message.key, message.value):
            self._changed.set()

    async def publish(self, rule_set: RuleSet) -> None:
        """Publish ``rule_set`` as the ``ruleset`` snapshot (waits for the broker)."""
        assert self._publisher is not None
        await self._publisher.publish(self.topic, snapshot_of(rule_set).to_json(), key=ruleset_key())

    async def rebuild(self) -> None:
        """Compute the effective rule set off the loop and install it if its version is new."""
        try:
            rule_set = await asyncio.to_thread(self.feed.effective)
        except RuleFileError as exc:
            log.error("the rules topic's snapshot is not a valid rule set; keeping version %s:\n%s", self._installed_version, exc)
            return
        if rule_set is None or rule_set.version == self._installed_version:
            return
        await self.install(rule_set)
        self._installed_version = rule_set.version
        log.info("matching with rule-set version %s (%d rules, %d subscribers)", rule_set.version, len(rule_set.rules), len(rule_set.subscribers))

    @Service.task
    async def _rebuild_on_change(self) -> None:
        """One rebuild per burst of feed changes (records applied while one runs wait for the next)."""
        while not self.should_stop:
            await self._changed.wait()
            self._changed.clear()
            await self.rebuild()

    @Service.task
    async def _watch(self) -> None:
        interval = self.settings.rules_poll_interval
        while not self.should_stop:
            await self.sleep(interval)
            fingerprint = await asyncio.to_thread(file_fingerprint, self.rules_path)
            if fingerprint == self._fingerprint:
                continue
            self._fingerprint = fingerprint
            await self.reload()

    async def reload(self) -> None:
        """Validate the changed file; publish it if valid, log every problem if not."""
        try:
            rule_set = await asyncio.to_thread(load_rule_file, self.rules_path, None, self.reader)
        except RuleFileError as exc:
            log.error(
                "%s changed but is not valid (%d problem(s)); matching goes on with version %s:\n%s",
                self.rules_path, len(exc.problems), self._installed_version, "\n".join(p.render() for p in exc.problems),
            )
            return
        if self.feed.snapshot is not None and rule_set.version == self.feed.snapshot.version:
            return  # saved without a change of content
        log.info("%s changed: publishing rule-set version %s (%d rules)", self.rules_path, rule_set.version, len(rule_set.rules))
        try:
            await self.publish(rule_set)
        except TransientError as exc:
            log.warning("publishing rule-set version %s failed (%s); trying again at the next poll", rule_set.version, exc)
            self._fingerprint = None  # look at the file again next time
            return
        self.file_rule_set = rule_set


def file_fingerprint(path: Path) -> tuple:
    """What tells a changed file: modification time, size and a hash of the content."""
    try:
        stat = os.stat(path)
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as exc:
        return ("unreadable", str(exc))
    return (stat.st_mtime_ns, stat.st_size, digest)
