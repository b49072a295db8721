"""``newsalert serve notifier --rules FILE``: the one place that wires the notifier together.

Order: load the rule file (a broken one exits 1 before anything connects), create the topics
(idempotent; exit 2 when the broker is unreachable), start the health server (``/healthz``,
``/readyz``, ``/metrics``), the producer (dead letters, attempts, retries), the one shared HTTP
session, read the subscriber states (disabled subscribers) and the rules feed (the rule-set
snapshot's subscribers and the API's active subscriptions, ``newsalert.services.notifier.feed``; the
``--rules`` file's subscribers win over them), then start the consumer loop. SIGTERM
or SIGINT stops fetching, lets in-flight deliveries finish (up to ``NEWSALERT_SHUTDOWN_GRACE`` s),
commits what is settled and closes everything. Nothing connects at import time.

``NotifierProcess`` is the same wiring for in-process use (tests): ``run()`` until ``stop()``.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Mapping

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from newsalert.adapters import kafka_pacing
from newsalert.adapters.broker import KafkaPublisher
from newsalert.adapters.http_guard import guarded_connector
from newsalert.adapters.topics import ensure_topics
from newsalert.logs import configure_logging
from newsalert.config import Settings, get_settings
from newsalert.errors import RuleFileError, SetupError, TransientError
from newsalert.domain.delivery.endpoints import Endpoint, endpoints_from_subscribers
from newsalert.services.notifier.feed import SubscriberDirectory
from newsalert.services.notifier.metrics import NotifierMetrics
from newsalert.services.notifier.sender import WebhookSender
from newsalert.services.notifier.consumer import Notifier
from newsalert.services.notifier.states import SubscriberStates

log = logging.getLogger("newsalert.notifier")

EXIT_BAD_RULES = 1
EXIT_NO_BROKER = 2


def run(rules_path: Path, port: int, host: str = "127.0.0.1", settings: Settings | None = None) -> None:
    """Run the notifier in the foreground until SIGTERM/SIGINT; exits non-zero on failure."""
    settings = settings or get_settings()
    configure_logging(settings)
    kafka_pacing.install(settings)
    endpoints = load_endpoints_or_exit(rules_path)
    log.info("notifier: %d subscriber(s) from %s", len(endpoints), rules_path)
    process = NotifierProcess(settings, endpoints, host=host, port=port)
    tune_gc()
    try:
        asyncio.run(process.run(install_signal_handlers=True))
    except (TransientError, SetupError) as exc:
        print(f"newsalert notifier: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_NO_BROKER) from None


GC_GEN0_THRESHOLD = 20_000


def tune_gc() -> None:
    """Make the garbage collector cheap for a process that handles thousands of alerts a second.

    Each alert allocates a few hundred short-lived objects (decoded model, HTTP request and
    response, Kafka records), nearly all freed by reference counting; with the default first-
    generation threshold (700) the collector ran every one or two alerts and, measured with
    ``benchmarks/notifier_throughput.py``, took a large share of the notifier's CPU. Everything
    that exists now (modules, schemas, settings) lives for the whole process: ``gc.freeze()``
    moves it out of every later collection. Only called for a notifier process of its own
    (``run``), never in-process, where the interpreter belongs to someone else.
    """
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


def load_endpoints_or_exit(rules_path: Path) -> dict[str, Endpoint]:
    """The rule file's subscribers as endpoints, or every problem on stderr and exit status 1."""
    from newsalert.adapters.rule_files import load_rule_file  # the rule-file parser is only needed here

    try:
        ruleset = load_rule_file(rules_path)
    except RuleFileError as exc:
        print(f"newsalert notifier: {rules_path} is not a valid rule file:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem.render()}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_RULES) from None
    return endpoints_from_subscribers(ruleset.subscribers)


def build_session(settings: Settings) -> aiohttp.ClientSession:
    """The one HTTP client session: explicit timeouts, a pool as large as the in-flight bound."""
    timeout = aiohttp.ClientTimeout(total=settings.webhook_timeout, connect=settings.webhook_connect_timeout)
    # The SSRF guard vets every address actually connected to (NEWSALERT_ALLOW_PRIVATE_TARGETS...).
    connector = guarded_connector(settings, limit=settings.notifier_max_in_flight, limit_per_host=0)
    # trust_env=False: proxy variables must not silently reroute signed alerts. No cookie jar: a
    # webhook receiver has no business setting cookies, and with a shared jar one subscriber's
    # endpoint could set cookies that are then sent to another subscriber on the same host (it
    # also saves the jar's work on every response).
    return aiohttp.ClientSession(timeout=timeout, connector=connector, trust_env=False, cookie_jar=aiohttp.DummyCookieJar())


class NotifierProcess:
    """Everything the notifier runs, started and stopped together."""

    def __init__(self, settings: Settings, endpoints: Mapping[str, Endpoint], host: str = "127.0.0.1", port: int | None = None) -> None:
        self.settings = settings
        self.endpoints = dict(endpoints)
        self.host = host
        self.port = port
        self.notifier: Notifier | None = None
        self.metrics = NotifierMetrics()
        self.states = SubscriberStates(settings)
        self._stop_requested = asyncio.Event()

    def stop(self) -> None:
        """Ask for a graceful stop (safe to call before or while ``run`` runs)."""
        self._stop_requested.set()
        if self.notifier is not None:
            self.notifier.stop()

    async def run(self, install_signal_handlers: bool = False) -> None:
        """Create topics, serve health, consume and deliver until ``stop()``; then close all."""
        await ensure_topics(self.settings)
        runner = await self._start_health() if self.port is not None else None
        publisher = KafkaPublisher(self.settings, client_id="newsalert-notifier", linger_ms=self.settings.notifier_linger_ms)
        session = build_session(self.settings)
        states_started = False
        directory = SubscriberDirectory(self.settings, self.endpoints)
        directory_started = False
        try:
            await publisher.start()
            await self.states.start()
            states_started = True
            # The whole rules feed is read before any alert: API subscribers are known at once.
            await directory.start()
            directory_started = True
            sender = WebhookSender(session, self.settings.notifier_max_in_flight)
            self.notifier = Notifier(self.settings, directory, sender, publisher, self.states, self.metrics)
            if install_signal_handlers:
                loop = asyncio.get_running_loop()
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.add_signal_handler(sig, self.stop)
            if self._stop_requested.is_set():
                self.notifier.stop()
            await self.notifier.run()
        finally:
            if directory_started:
                await directory.stop()
            if states_started:
                await self.states.stop()
            await session.close()
            await publisher.stop()
            if runner is not None:
                await runner.cleanup()

    async def _start_health(self) -> web.AppRunner:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, self.host, self.port).start()
        log.info("notifier health on http://%s:%d/healthz, /readyz and /metrics", self.host, self.port)
        return runner

    async def _healthz(self, request: web.Request) -> web.Response:
        """Process up: always 200, with the delivery counters."""
        return _json(200, {"status": "ok", **self._stats()})

    async def _readyz(self, request: web.Request) -> web.Response:
        """200 while the consumer is in its loop (joined, not stopping), 503 otherwise."""
        ready = self.notifier is not None and self.notifier.running and not self._stop_requested.is_set()
        return _json(200 if ready else 503, {"ready": ready, **self._stats()})

    async def _metrics(self, request: web.Request) -> web.Response:
        """Prometheus text exposition of the notifier's metrics."""
        body = generate_latest(self.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    def _stats(self) -> dict:
        return {} if self.notifier is None else vars(self.notifier.stats).copy()


def _json(status: int, body: dict) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")





