"""Reference phases: what HTTP, Kafka and the matching engine allow on this machine, measured in the
same run as the services, so the services' figures can be given as ratios that mean the same on
any machine.

- ``raw_http``: a bare aiohttp client POSTing signed alert bodies (Standard Webhooks headers made
  per request, as the notifier does) to the receiver at a fixed concurrency, no Kafka: POSTs/s;
- ``bare_relay``: a plain aiokafka consumer of pre-filled ``matches`` records that signs and POSTs
  each one to the receiver at the same concurrency and commits every fetched batch once it is
  delivered (at most 4 batches in flight): alerts/s, the floor any notifier stands on here;
- ``pure_engine``: the matcher's pure processing path (``ArticleMatcher.process``: decode, match,
  build and encode the alerts) on the benchmark's rule file and articles, in one process:
  articles/s of wall time (CPU time is reported too).

Each returns a dict with ``count``, ``seconds``, ``per_s``, ``cpu_s`` (CPU of this process).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from pathlib import Path
from typing import Mapping, Sequence

import aiohttp
from aiokafka import AIOKafkaConsumer

from newsalert.adapters.broker import KafkaPublisher, Record
from newsalert.config import Settings
from newsalert.domain.alerts import new_alert
from newsalert.domain.dedup import story_fingerprints
from newsalert.domain.delivery.signing import signed_headers
from newsalert.schemas import Alert, Article, Highlight
from newsalert.schemas.dedup import DEDUP_HEADER

CONCURRENCY = 64  # the notifier's default notifier_max_in_flight
_JSON = {"Content-Type": "application/json"}


def make_alerts(count: int, subscribers: int, prefix: str = "a") -> list[Alert]:
    """``count`` alerts of realistic size (~1 KB), round-robin over ``sub-000`` ...; ids from ``prefix``."""
    body = "<p>" + "North Korea fired missiles into the sea on Tuesday, officials said. " * 8 + "</p>"
    alerts = []
    for n in range(count):
        article = Article(id=f"{prefix}-{n:07d}", title=f"Missiles test number {n}", body=body, url=f"https://news.example/{prefix}/{n}",
                          source="Example News", published="2024-01-02T03:04:05Z")
        highlights = [Highlight(field="title", text="Missiles", start=0, end=8)]
        alerts.append(new_alert(article, "r-missiles", "North Korea AND missiles", f"sub-{n % subscribers:03d}",
                                highlights, ruleset_version="bench"))
    return alerts


async def prefill(settings: Settings, alerts: Sequence[Alert]) -> None:
    """Publish ``alerts`` to ``matches`` (keyed by subscriber, with story fingerprints as the
    matcher sends them, so the notifier's de-duplication runs), acknowledged."""
    publisher = KafkaPublisher(settings, client_id="bench-prefill")
    await publisher.start()
    try:
        topic = settings.topic("matches")
        for start in range(0, len(alerts), 2000):
            await publisher.publish_many([Record(topic, a.to_json(), a.subscriber.encode(), headers=fingerprint_header(a))
                                          for a in alerts[start:start + 2000]])
    finally:
        await publisher.stop()


def fingerprint_header(alert: Alert) -> tuple:
    """The ``newsalert-dedup`` header the matcher would put on ``alert``."""
    prints = story_fingerprints(alert.article.id, alert.article.url, alert.article.title, alert.article.excerpt)
    return ((DEDUP_HEADER, json.dumps(prints).encode()),)


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def _result(count: int, started: float, cpu: float, **extra) -> dict:
    seconds = time.perf_counter() - started
    return {"count": count, "seconds": seconds, "per_s": count / seconds if seconds > 0 else 0.0, "cpu_s": _cpu() - cpu, **extra}


async def _post(session: aiohttp.ClientSession, url: str, secrets, webhook_id: str, body: bytes) -> bool:
    headers = signed_headers(secrets, webhook_id, body)
    headers.update(_JSON)
    async with session.post(url, data=body, headers=headers) as resp:
        await resp.read()
        return 200 <= resp.status < 300


async def raw_http(base_url: str, secrets: Mapping[str, tuple], alerts: Sequence[Alert], concurrency: int = CONCURRENCY) -> dict:
    """POST every alert's body, signed, ``concurrency`` at a time: POSTs/s (see the module docstring)."""
    bodies = [(f"{base_url}/hooks/{a.subscriber}", secrets[a.subscriber], a.webhook_id, a.to_json()) for a in alerts]
    failed = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        queue = iter(bodies)

        async def worker() -> None:
            nonlocal failed
            for url, sec, wid, body in queue:
                failed += not await _post(session, url, sec, wid, body)

        started, cpu = time.perf_counter(), _cpu()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return _result(len(bodies), started, cpu, failed=failed)


async def bare_relay(settings: Settings, base_url: str, secrets: Mapping[str, tuple], count: int,
                     concurrency: int = CONCURRENCY, batches_in_flight: int = 4) -> dict:
    """Drain ``count`` pre-filled ``matches`` records with a bare aiokafka consumer: sign, POST,
    commit per delivered batch (see the module docstring). ``concurrency`` workers take records
    from a queue (no task per record); a fetched batch is committed once all its records are
    delivered and every earlier batch is committed."""
    consumer = AIOKafkaConsumer(settings.topic("matches"), bootstrap_servers=settings.kafka_bootstrap,
                                group_id=f"bench-relay-{uuid.uuid4().hex[:8]}", enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    queue: asyncio.Queue = asyncio.Queue()
    in_flight = asyncio.Semaphore(batches_in_flight)
    batches: list[list] = []  # [records left, offsets, done event], in fetch order
    totals = {"delivered": 0, "failed": 0}
    connector = aiohttp.TCPConnector(limit=concurrency)
    try:
        async with aiohttp.ClientSession(connector=connector) as session:

            async def worker() -> None:
                while True:
                    record, batch = await queue.get()
                    alert = json.loads(record.value)
                    ok = await _post(session, f"{base_url}/hooks/{alert['subscriber']}", secrets[alert["subscriber"]],
                                     alert["webhook_id"], record.value)
                    totals["delivered" if ok else "failed"] += 1
                    batch[0] -= 1
                    if batch[0] == 0:
                        batch[2].set()

            async def committer() -> None:
                while True:
                    while not batches:
                        await asyncio.sleep(0.005)
                    left, offsets, done = batches[0]
                    await done.wait()
                    await consumer.commit(offsets)
                    batches.pop(0)
                    in_flight.release()

            workers = [asyncio.create_task(worker()) for _ in range(concurrency)] + [asyncio.create_task(committer())]
            started, cpu, fetched_total = None, _cpu(), 0
            while fetched_total < count:
                await in_flight.acquire()
                fetched = await consumer.getmany(timeout_ms=200, max_records=500)
                if not fetched:
                    in_flight.release()
                    continue
                started = started or time.perf_counter()
                records = [r for rs in fetched.values() for r in rs]
                batch = [len(records), {tp: rs[-1].offset + 1 for tp, rs in fetched.items()}, asyncio.Event()]
                batches.append(batch)
                fetched_total += len(records)
                for record in records:
                    queue.put_nowait((record, batch))
            while batches:
                await asyncio.sleep(0.005)
            result = _result(totals["delivered"], started, cpu, failed=totals["failed"])
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            return result
    finally:
        await consumer.stop()


def pure_engine(rules_path: Path, raw_articles: Sequence[bytes]) -> dict:
    """The matcher's pure path over ``raw_articles`` (article records), in this process: articles/s."""
    from newsalert.adapters.rule_files import load_rule_file
    from newsalert.services.matcher.processing import SourcePosition, build_matcher

    matcher = build_matcher(Settings(), load_rule_file(rules_path), dedup=True)
    inputs = [(raw, SourcePosition("articles", 0, i, key=str(i).encode(), timestamp_ms=1_700_000_000_000 + i))
              for i, raw in enumerate(raw_articles)]
    for raw, position in inputs[:50]:
        matcher.process(raw, position)  # warm-up: first-use imports and caches
    alerts = 0
    started, cpu = time.perf_counter(), _cpu()
    for raw, position in inputs:
        outcome = matcher.process(raw, position)
        alerts += 0 if outcome.rejected else len(outcome.records)
    result = _result(len(inputs), started, cpu, alerts=alerts)
    result["cpu_per_s"] = len(inputs) / result["cpu_s"] if result["cpu_s"] > 0 else 0.0
    return result
