"""The ingest HTTP application: ``POST /articles``, ``GET /healthz``, ``GET /readyz``, ``GET /metrics``.

``POST /articles`` takes one article, a JSON array or NDJSON and answers 202 once the broker has
acknowledged every valid item (invalid ones are listed and dead-lettered), 422 when none is
valid, 400 for a body that is not JSON, 413 over the size or batch limits, 503 when the broker did
not acknowledge (nothing reported as accepted). The service starts with the broker down;
``/readyz`` says when it can publish. The answers are documented in the README.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from aiohttp import web
from aiokafka.errors import KafkaError
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from newsalert.adapters.broker import KafkaPublisher, Publisher, Record
from newsalert.adapters.topics import ensure_topics
from newsalert.config import Settings
from newsalert.errors import SetupError, TransientError
from newsalert.schemas import RejectedRecord
from newsalert.schemas.article import CLEANED_HEADERS
from newsalert.services.ingest.batch import Batch, BodyError, Rejected, parse_body
from newsalert.services.ingest.readiness import BrokerReadiness

log = logging.getLogger("newsalert.ingest")

_READ_CHUNK = 64 * 1024
_RETRY_AFTER_S = "5"
# Delays between attempts to reach the broker at start: quick at first, then every 10 s.
_CONNECT_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0)


@dataclass
class Metrics:
    """Prometheus metrics of one application (its own registry: tests run several apps)."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.requests = Counter("newsalert_ingest_requests", "POST /articles answers by status.", ["status"], registry=self.registry)
        self.accepted = Counter("newsalert_ingest_articles_accepted", "Articles published to the articles topic.", registry=self.registry)
        self.rejected = Counter("newsalert_ingest_articles_rejected", "Invalid articles refused (and dead-lettered).", registry=self.registry)
        self.publish_seconds = Histogram("newsalert_ingest_publish_seconds", "Time until the broker acknowledged a batch.", registry=self.registry)


@dataclass
class IngestState:
    """What the handlers share: settings, the publisher once connected, readiness, metrics."""

    settings: Settings
    publisher_factory: Callable[[], Any]
    readiness: BrokerReadiness
    metrics: Metrics = field(default_factory=Metrics)
    publisher: Publisher | None = None
    problem: str = "connecting to the broker"
    connect_task: asyncio.Task | None = None


STATE = web.AppKey("ingest_state", IngestState)


def build_app(settings: Settings, publisher_factory: Callable[[], Any] | None = None) -> web.Application:
    """The aiohttp application; it connects to the broker in the background once started."""
    factory = publisher_factory or (lambda: KafkaPublisher(settings, client_id="newsalert-ingest"))
    readiness = BrokerReadiness(settings, settings.ingest_ready_timeout_s, settings.ingest_ready_cache_s)
    app = web.Application(client_max_size=settings.ingest_max_body_bytes)
    app[STATE] = IngestState(settings, factory, readiness)
    app.router.add_post("/articles", post_articles)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.on_startup.append(_start_connecting)
    app.on_cleanup.append(_disconnect)
    return app


# --- lifecycle --------------------------------------------------------------------------------


async def _start_connecting(app: web.Application) -> None:
    state = app[STATE]
    state.connect_task = asyncio.create_task(_connect(state), name="ingest-connect")


async def _connect(state: IngestState) -> None:
    """Create the topics and start the producer, retrying until the broker answers."""
    attempt = 0
    while True:
        publisher = None
        try:
            await ensure_topics(state.settings)
            publisher = state.publisher_factory()
            await publisher.start()
        except (TransientError, SetupError, KafkaError, OSError, asyncio.TimeoutError) as exc:
            # SetupError (the broker refuses a topic) needs an operator, but retrying costs
            # nothing and /readyz shows the reason meanwhile.
            state.problem = f"broker at {state.settings.kafka_bootstrap} not usable: {exc}"
            delay = _CONNECT_DELAYS[min(attempt, len(_CONNECT_DELAYS) - 1)]
            log.warning("%s; retrying in %.1f s", state.problem, delay)
            attempt += 1
            await asyncio.sleep(delay)
            continue
        state.publisher = publisher
        state.problem = ""
        log.info("connected to Kafka at %s; publishing to %s", state.settings.kafka_bootstrap, state.settings.topic("articles"))
        return


async def _disconnect(app: web.Application) -> None:
    """Stop connecting, flush and close the producer (after in-flight requests finished)."""
    state = app[STATE]
    if state.connect_task is not None:
        state.connect_task.cancel()
        await asyncio.gather(state.connect_task, return_exceptions=True)
    if state.publisher is not None:
        await state.publisher.stop()
        state.publisher = None


# --- handlers ---------------------------------------------------------------------------------


async def healthz(request: web.Request) -> web.Response:
    """200 while the process serves HTTP; says nothing about the broker."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """200 when the producer is connected and the broker answers a metadata request now."""
    state = request.app[STATE]
    reason = await _not_ready_reason(state)
    if reason:
        return web.json_response({"ready": False, "reason": reason}, status=503)
    return web.json_response({"ready": True})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition of this application's metrics."""
    body = generate_latest(request.app[STATE].metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def post_articles(request: web.Request) -> web.Response:
    """Validate, clean and publish articles; see the module docstring for every answer."""
    state = request.app[STATE]
    response = await _handle_post(state, request)
    state.metrics.requests.labels(str(response.status)).inc()
    return response


async def _handle_post(state: IngestState, request: web.Request) -> web.Response:
    settings = state.settings
    try:
        body = await _read_body(request, settings.ingest_max_body_bytes)
        batch = parse_body(body, request.content_type, settings.ingest_max_batch)
    except BodyError as exc:
        log.info("refused POST /articles: %s %s", exc.status, exc.message)
        return web.json_response(exc.as_json(), status=exc.status)
    state.metrics.rejected.inc(len(batch.rejected))
    for item in batch.rejected:
        log.info("rejected %s", item.reason())
    rejected = [item.as_json() for item in batch.rejected]
    if not batch.articles:
        await _dead_letter_only(state, batch.rejected)
        return web.json_response({"error": "no valid article in the request", "accepted": [], "rejected": rejected}, status=422)
    reason = await _not_ready_reason(state)
    if reason:
        return _unavailable(reason)
    started = time.perf_counter()
    try:
        await state.publisher.publish_many(_records(settings, batch))
    except TransientError as exc:
        state.readiness.forget()
        log.warning("publishing %d articles failed: %s", len(batch.articles), exc)
        return _unavailable(f"the broker did not acknowledge the articles: {exc}")
    state.metrics.publish_seconds.observe(time.perf_counter() - started)
    state.metrics.accepted.inc(len(batch.articles))
    return web.json_response({"accepted": [a.id for a in batch.articles], "rejected": rejected}, status=202)


async def _read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, refusing with 413 as soon as it is known to exceed ``limit`` bytes:
    from ``Content-Length`` before reading anything, else while reading (chunked bodies)."""
    too_large = BodyError(413, f"the body is larger than the limit of {limit} bytes; split the batch", max_bytes=limit)
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(_READ_CHUNK):
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def _not_ready_reason(state: IngestState) -> str:
    """Why articles cannot be published now ('' when they can)."""
    if state.publisher is None:
        return state.problem or "connecting to the broker"
    if not await state.readiness.ready():
        return f"the broker at {state.settings.kafka_bootstrap} does not answer"
    return ""


def _unavailable(reason: str) -> web.Response:
    body = {"error": f"{reason}; nothing was accepted, retry later", "accepted": []}
    return web.json_response(body, status=503, headers={"Retry-After": _RETRY_AFTER_S})


def _records(settings: Settings, batch: Batch) -> list[Record]:
    """The articles (key = id) and the dead letters of the rejected items, in one batch."""
    topic = settings.topic("articles")
    records = [Record(topic, article.to_json(), key=article.id.encode(), headers=CLEANED_HEADERS) for article in batch.articles]
    return records + _dead_letters(settings, batch.rejected)


def _dead_letters(settings: Settings, rejected: list[Rejected]) -> list[Record]:
    topic = settings.topic("articles.rejected")
    out = []
    for item in rejected:
        letter = RejectedRecord.of("ingest", item.reason(), item.text, record_id=item.record_id, key=item.record_id)
        out.append(Record(topic, letter.to_json(), key=item.record_id.encode() if item.record_id else None))
    return out


async def _dead_letter_only(state: IngestState, rejected: list[Rejected]) -> None:
    """Dead-letter the items of a wholly invalid request, best effort: the client already gets
    every detail in the 422, so a broker outage is logged rather than turned into a 503."""
    if await _not_ready_reason(state):
        log.warning("broker not ready: %d rejected items not dead-lettered", len(rejected))
        return
    try:
        await state.publisher.publish_many(_dead_letters(state.settings, rejected))
    except TransientError as exc:
        log.warning("dead-lettering %d rejected items failed: %s", len(rejected), exc)
