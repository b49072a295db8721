"""The notifier's de-duplication claims on the real broker (``newsalert.services.notifier.claims``): what
one notifier writes is what the next owner of the partition reads back, expired batches are
tombstoned, and a claim is durable once ``flush`` returns."""

from __future__ import annotations

import contextlib
import json
import time

import pytest

from newsalert.adapters.broker import KafkaPublisher
from newsalert.adapters.topics import ensure_topics
from newsalert.config import Settings
from newsalert.schemas import Alert, ArticleSummary, RuleRef
from newsalert.schemas.dedup import DEDUP_HEADER
from newsalert.domain.delivery.ids import webhook_id
from newsalert.services.notifier.claims import StoryClaims
from tests.integration.topic_reader import read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]


def alert(article: str, rule: str = "r", subscriber: str = "desk") -> Alert:
    return Alert(webhook_id=webhook_id(article, rule, subscriber), article=ArticleSummary(id=article, title="t"), rule=RuleRef(id=rule, query="q"), subscriber=subscriber,
                 matched_at="2026-12-01T00:00:00Z", ruleset_version="v1")


def headers(*prints: str) -> list:
    return [(DEDUP_HEADER, json.dumps(list(prints)).encode())]


@contextlib.asynccontextmanager
async def claims_broker(kafka_settings: Settings, window_s: float):
    """Settings with a de-duplication window of ``window_s``, the topics, and a started publisher."""
    settings = kafka_settings.model_copy(update={"dedup_window": window_s})
    await ensure_topics(settings)
    publisher = KafkaPublisher(settings, client_id="claims-test")
    await publisher.start()
    try:
        yield settings, publisher
    finally:
        await publisher.stop()


async def test_claims_written_by_one_notifier_are_read_back_by_the_next(kafka_settings: Settings):
    async with claims_broker(kafka_settings, 3600.0) as (settings, publisher):
        now_ms = int(time.time() * 1000)
        first = StoryClaims(settings, publisher)
        assert first.admit(2, 10, now_ms, alert("a1"), headers("id:a1", "url:u"))
        assert first.admit(2, 11, now_ms, alert("a9", subscriber="wire"), headers("id:a9"))
        assert not first.admit(2, 12, now_ms, alert("a2"), headers("id:a2", "url:u"))  # same URL
        assert await first.flush(lambda records: _never(records))  # acknowledged: nothing re-published
        records = await read_topic(settings.kafka_bootstrap, settings.topic("matches.claims"), expected=1, timeout=20)
        assert [(r.partition, r.key) for r in records] == [(2, b"2:10")]  # one batch for the fetch, on partition 2
        assert len(json.loads(records[0].value)["claims"]) == 2

        second = StoryClaims(settings, publisher)
        await second.recover([2])
        assert second.loaded == 2
        assert not second.admit(2, 13, now_ms, alert("a3"), headers("id:a3", "url:u"))
        assert second.admit(2, 10, now_ms, alert("a1"), headers("id:a1", "url:u"))  # its own record, redone
        other = StoryClaims(settings, publisher)
        await other.recover([1])  # another partition: nothing of partition 2's claims
        assert other.loaded == 0 and other.book.size() == 0
        for claims in (first, second, other):
            await claims.close()


async def test_expired_batches_are_tombstoned_and_not_loaded(kafka_settings: Settings):
    async with claims_broker(kafka_settings, 60.0) as (settings, publisher):
        old_ms = int((time.time() - 3600) * 1000)
        writer = StoryClaims(settings, publisher)
        assert writer.admit(0, 5, old_ms, alert("old"), headers("id:old"))
        assert await writer.flush(_never)
        reader = StoryClaims(settings, publisher)
        await reader.recover([0])
        assert reader.loaded == 0 and reader.expired == 1
        records = await read_topic(settings.kafka_bootstrap, settings.topic("matches.claims"), expected=2, timeout=20)
        assert [(r.key, r.value is None) for r in records] == [(b"0:5", False), (b"0:5", True)]  # the tombstone
        assert reader.admit(0, 6, int(time.time() * 1000), alert("old"), headers("id:old"))
        await reader.close()


async def _never(records) -> bool:
    raise AssertionError(f"re-published {len(records)} record(s): the first send should have been acknowledged")
