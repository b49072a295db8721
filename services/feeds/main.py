"""``newsalert serve feeds --feeds FILE``: wires settings, logging, the feed file and the HTTP app.

Nothing connects at import time. The app serves ``/healthz`` (the process is up), ``/readyz``
(200 once the seen entries are read back and the pollers run) and ``/metrics`` (per feed); the
service connects and polls in the background and stops on SIGINT or SIGTERM.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from newsalert.adapters import kafka_pacing
from newsalert.config import Settings, get_settings
from newsalert.domain.feeds.feedfile import load_feed_file
from newsalert.logs import configure_logging
from newsalert.schemas.feeds import FeedSpec
from newsalert.services.feeds.service import FeedsService

log = logging.getLogger("newsalert.feeds")

SERVICE = web.AppKey("feeds_service", FeedsService)
_STARTING = web.AppKey("feeds_starting", asyncio.Task)


def build_app(settings: Settings, feeds: list[FeedSpec]) -> web.Application:
    """The HTTP app; the service starts in the background once the app runs."""
    app = web.Application()
    app[SERVICE] = FeedsService(settings, feeds)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.on_startup.append(_start)
    app.on_cleanup.append(_stop)
    return app


async def _start(app: web.Application) -> None:
    async def start() -> None:
        await app[SERVICE].start()
        app[SERVICE].run_pollers()

    app[_STARTING] = asyncio.create_task(start(), name="feeds-start")


async def _stop(app: web.Application) -> None:
    app[_STARTING].cancel()
    await asyncio.gather(app[_STARTING], return_exceptions=True)
    await app[SERVICE].stop()


async def healthz(request: web.Request) -> web.Response:
    """200 while the process serves HTTP."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """200 once the seen entries are read back and every feed is being polled."""
    service = request.app[SERVICE]
    if not service.ready:
        return web.json_response({"ready": False, "reason": service.problem}, status=503)
    return web.json_response({"ready": True, "feeds": {p.spec.id: p.state for p in service.pollers}})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition of the per-feed metrics."""
    body = generate_latest(request.app[SERVICE].metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def run(feeds_path: Path, host: str = "127.0.0.1", port: int = 8084, settings: Settings | None = None) -> None:
    """Poll the feeds of ``feeds_path`` and serve the health endpoints until SIGINT/SIGTERM."""
    settings = settings or get_settings()
    configure_logging(settings)
    kafka_pacing.install(settings)
    feeds = load_feed_file(feeds_path)
    app = build_app(settings, feeds)
    log.info("feeds: %d feeds from %s, publishing to %s; http://%s:%d", len(feeds), feeds_path, settings.topic("articles"), host, port)
    web.run_app(app, host=host, port=port, shutdown_timeout=settings.shutdown_grace, print=None, access_log=None)
    log.info("feeds stopped")
