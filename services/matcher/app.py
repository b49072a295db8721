"""The matcher's faust application: one agent on ``articles``, alerts to ``matches``, dead letters
to ``articles.rejected``, ``/healthz`` and ``/readyz`` on faust's web server; built by
:func:`build_app`, never at import time.

Durability rule: an ``articles`` offset is acked only once every record derived from it is
acknowledged by the broker. The agent iterates ``stream.noack().events()`` and an ordered,
bounded window (``OutputService``) acks events in order; why faust's own acking and producer are
not used is in ``docs/architecture.md`` (matcher).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import faust
from mode import Service

from newsalert.domain.articles import cleaned_by_producer
from newsalert.adapters import kafka_clients
from newsalert.adapters import durable
from newsalert.adapters.broker import Publisher, Record, Sent
from newsalert.adapters.kafka_pacing import broker_outage
from newsalert.config import Settings
from newsalert.domain.backoff import Backoff
from newsalert.errors import TransientError
from newsalert.services.matcher.metrics import CONTENT_TYPE, matcher_registry, render
from newsalert.services.matcher.processing import ArticleMatcher, Outcome, SourcePosition

log = logging.getLogger(__name__)

# Backoff of the publish retry while the broker does not acknowledge, unless the wiring passes
# the settings' one (``kafka_pacing.broker_backoff``).
_DEFAULT_BACKOFF = Backoff(0.5, 5.0)


@dataclass
class MatcherState:
    """What the agent and the web pages share: the current matcher, readiness and counters."""

    matcher: ArticleMatcher
    rules_loaded: int
    ready: bool = False
    consumed: int = 0
    alerts: int = 0
    rejected: int = 0
    publish_retries: int = 0
    started_at: float = field(default_factory=time.monotonic)
    last_progress: float = field(default_factory=time.monotonic)
    # Written on faust's loop, read by the watchdog thread: replaced whole, never mutated.
    assigned: frozenset[tuple[str, int]] = frozenset()
    # Written by the watchdog thread, read by the web pages and /metrics.
    lag: dict[tuple[str, int], int] = field(default_factory=dict)
    stalled: str | None = None

    def count(self, outcome: Outcome) -> None:
        """Account for one record whose output the broker has acknowledged."""
        self.consumed += outcome.consumed
        self.alerts += outcome.alerts
        self.rejected += outcome.rejected is not None
        self.last_progress = time.monotonic()

    def summary(self) -> dict:
        """The JSON body of ``/healthz`` and ``/readyz``."""
        return {
            "service": "matcher",
            "ready": self.ready and self.stalled is None,
            "stalled": self.stalled,
            "assigned": [f"{topic}[{number}]" for topic, number in sorted(self.assigned)],
            "lag": {f"{topic}[{number}]": lag for (topic, number), lag in sorted(self.lag.items())},
            "ruleset_version": self.matcher.ruleset_version,
            "rules": self.rules_loaded,
            "consumed": self.consumed,
            "alerts": self.alerts,
            "rejected": self.rejected,
            "publish_retries": self.publish_retries,
            "uptime_s": round(time.monotonic() - self.started_at, 1),
        }


@dataclass(slots=True)
class InFlight:
    """One article whose outputs were handed to the producer: acked once ``sent`` is acknowledged."""

    event: faust.EventT
    outcome: Outcome
    sent: Sent | None  # None: nothing to wait for (no records, or already acknowledged)
    ack: Callable[[faust.EventT], Awaitable[object]]
    refused: bool = False  # the producer did not take the records: the acker publishes them again


class OutputService(Service):
    """The publisher and the ordered in-flight window of the matcher, run inside the faust worker.

    Started before the app and stopped after it (so the acker runs through faust's
    ``wait_empty`` at shutdown and rebalances). The publisher is made by ``factory`` in
    ``on_start``, because aiokafka clients must be created on the running event loop.
    """

    def __init__(self, factory: Callable[[], Publisher], state: MatcherState, max_in_flight: int,
                 backoff: Backoff = _DEFAULT_BACKOFF, **kwargs) -> None:
        self._factory = factory
        self._backoff = backoff
        self._publisher: Publisher | None = None
        self._state = state
        self._max_in_flight = max_in_flight
        self._window: asyncio.Queue[InFlight] | None = None
        self.stopping: Callable[[], bool] = lambda: self.should_stop
        self.on_crash: Callable[[BaseException], Awaitable[None]] | None = None
        super().__init__(**kwargs)

    @property
    def publisher(self) -> Publisher:
        """The started publisher; only valid between start and stop."""
        if self._publisher is None:
            raise RuntimeError("the output service is not started")
        return self._publisher

    @property
    def in_flight(self) -> int:
        """Articles sent and not yet acked."""
        return 0 if self._window is None else self._window.qsize()

    async def on_start(self) -> None:
        self._window = asyncio.Queue(maxsize=self._max_in_flight)
        publisher = self._factory()
        await publisher.start()
        self._publisher = publisher

    async def on_stop(self) -> None:
        if self._publisher is not None:
            await self._publisher.stop()

    async def submit(self, event: faust.EventT, outcome: Outcome, ack: Callable[[faust.EventT], Awaitable[object]]) -> None:
        """Send ``outcome``'s records without waiting and queue the event (waits while the window is full)."""
        sent: Sent | None = None
        refused = False
        try:
            sent = await send_records(self.publisher, outcome.records)
        except TransientError as exc:
            # Logged by the outage report (once per outage and a summary a minute), not per record.
            broker_outage().failed(f"the producer did not take {len(outcome.records)} record(s): {exc}")
            refused = True
        assert self._window is not None
        await self._window.put(InFlight(event, outcome, sent, ack, refused))

    @Service.task
    async def _acker(self) -> None:
        """Ack the window's events in order, each once its records are acknowledged."""
        assert self._window is not None
        window = self._window
        while not self.should_stop:
            item = await window.get()
            try:
                if not await settle(item, self.publisher, self._state, self.stopping, self._backoff):
                    return  # stopping while the broker is unavailable: leave it (and the rest) unacked
                await item.ack(item.event)
                self._state.count(item.outcome)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # A bug in our own acking path: crash the worker loudly (nothing after it is acked).
                log.critical("matcher acker failed", exc_info=True)
                if self.on_crash is not None:
                    await self.on_crash(exc)
                raise


async def send_records(publisher: Publisher, records: Sequence[Record]) -> Sent | None:
    """Hand ``records`` to the producer without waiting for the broker."""
    if not records:
        return None
    return await publisher.send_many(records)


async def settle(item: InFlight, publisher: Publisher, state: MatcherState, stopping: Callable[[], bool],
                 backoff: Backoff = _DEFAULT_BACKOFF) -> bool:
    """Wait until ``item``'s records are acknowledged (re-publishing them if that failed).

    False means the worker is stopping while the broker is unavailable: the caller must not ack.
    """
    if item.sent is not None:
        try:
            await item.sent.wait()
            return True
        except TransientError as exc:
            broker_outage().failed(f"the broker did not acknowledge {len(item.outcome.records)} record(s): {exc}")
    elif not item.refused:
        return True
    return await publish_until_acknowledged(publisher, item.outcome.records, state, stopping, backoff)


def broker_urls(bootstrap: str) -> list[str]:
    """faust broker URLs for a comma-separated ``host:port`` list."""
    return [f"kafka://{host.strip()}" for host in bootstrap.split(",") if host.strip()]


def faust_datadir(settings: Settings) -> Path:
    """faust's working directory of this app (it must exist before the worker starts)."""
    return Path(settings.home) / "faust" / settings.group("matcher")


def build_app(settings: Settings, state: MatcherState, output: OutputService, *, port: int) -> faust.App:
    """The faust app of the matcher: configuration, the agent and the web pages."""
    app_id = settings.group("matcher")
    app = faust.App(
        app_id,
        broker=broker_urls(settings.kafka_bootstrap),
        broker_credentials=kafka_clients.faust_credentials(settings),
        # Should faust ever create a topic (it does not now: no tables, no declared topics), it
        # gets the replication of every other topic of the service.
        topic_replication_factor=settings.replication_factor,
        autodiscover=False,
        # No tables: the app keeps no state of its own (de-duplication is the notifier's).
        store="memory://",
        topic_partitions=settings.matches_partitions,
        processing_guarantee="at_least_once",
        # Our topics exist (ensure_topics ran first) and must never be created by faust with its
        # own defaults; the leader topic is faust's and not needed by a single-agent app.
        topic_allow_declare=False,
        topic_disable_leader=True,
        # A new group starts at the beginning: articles published before the first worker came up
        # are matched, not skipped.
        consumer_auto_offset_reset="earliest",
        broker_client_id=f"newsalert-{app_id}",
        broker_commit_interval=settings.matcher_commit_interval,
        # A dead worker's partitions move after this long (faust's 60 s default is too slow).
        broker_session_timeout=settings.consumer_session_timeout,
        broker_heartbeat_interval=min(3.0, settings.consumer_session_timeout / 3),
        datadir=str(faust_datadir(settings)),
        web_enabled=True,
        web_bind="127.0.0.1",
        web_host="127.0.0.1",
        web_port=port,
    )
    output.on_crash = app.crash
    output.stopping = lambda: app.should_stop or output.should_stop
    articles = app.topic(
        settings.topic("articles"),
        key_serializer="raw",
        value_serializer="raw",
        # Deliver tombstones (null values) to the agent so they are dead-lettered, not skipped.
        allow_empty=True,
    )

    @app.agent(articles, name="match-articles", concurrency=1)
    async def match_articles(stream: faust.StreamT) -> None:
        manual = stream.noack()
        async for event in manual.events():
            # process() never raises for a record (per-record guard); a failure here is a bug and
            # crashes the worker, the event unacked so it is consumed again after the restart.
            try:
                outcome = state.matcher.process(event.value, position_of(event.message))
                await output.submit(event, outcome, manual.ack)
            except Exception as exc:
                log.critical("matcher agent failed outside the per-record guard", exc_info=True)
                await app.crash(exc)
                raise

    @app.task
    async def _announce() -> None:
        # Logged from inside the worker: its logging is configured only once it starts.
        log.info("matching with %d rule(s), rule-set version %s", state.rules_loaded, state.matcher.ruleset_version)

    @app.on_partitions_assigned.connect
    async def _assigned(sender: faust.App, assigned: set, **kwargs) -> None:
        # Joined the group (possibly with no partitions, when workers outnumber them): ready.
        state.ready = True
        state.assigned = frozenset((tp.topic, tp.partition) for tp in assigned if tp.topic == articles.get_topic_name())
        log.info("assigned %d partition(s): %s", len(assigned), sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned))

    @app.page("/healthz")
    async def healthz(web, request):
        """Process up and serving, and not stalled (see ``watchdog``): 200, else 503."""
        if state.stalled is not None:
            return web.json({**state.summary(), "status": "stalled"}, status=503)
        return web.json({**state.summary(), "status": "ok"})

    registry = matcher_registry(state, lambda: output.in_flight)

    @app.page("/metrics")
    async def metrics(web, request):
        """Prometheus text format (see ``newsalert.services.matcher.metrics``)."""
        return web.bytes(render(registry), content_type=CONTENT_TYPE)

    @app.page("/readyz")
    async def readyz(web, request):
        """Joined the consumer group with the publisher connected, not stalled: 200, else 503."""
        body = state.summary()
        return web.json(body, status=200 if body["ready"] else 503)

    return app


def position_of(message: faust.types.tuples.Message) -> SourcePosition:
    """Where a consumed message came from (copied into dead letters)."""
    return SourcePosition(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        timestamp_ms=None if message.timestamp is None else int(message.timestamp * 1000),
        cleaned=cleaned_by_producer(message.headers),
    )


async def publish_until_acknowledged(
    publisher: Publisher, records: Sequence[Record], state: MatcherState, stopping: Callable[[], bool],
    backoff: Backoff = _DEFAULT_BACKOFF,
) -> bool:
    """``newsalert.adapters.durable.publish_until_acknowledged``, counting the matcher's retries.

    Retrying forever is deliberate: skipping would lose alerts, and not acking stalls only this
    worker's partitions until the broker is back (stall detection makes that visible).
    """

    def count(_exc: TransientError) -> None:
        state.publish_retries += 1

    if await durable.publish_until_acknowledged(publisher, records, stopping, backoff, on_retry=count):
        return True
    log.warning("stopping with %d record(s) unacknowledged; they will be redone", len(records))
    return False
