"""``newsalert serve ingest``: the one place that wires settings, logging and the HTTP app.

Nothing connects at import time. ``run`` serves until SIGINT or SIGTERM; aiohttp then stops
accepting connections, lets in-flight requests finish (up to ``NEWSALERT_SHUTDOWN_GRACE``
seconds), and the app's cleanup flushes and closes the producer.
"""

from __future__ import annotations

import logging

from aiohttp import web

from newsalert.adapters import kafka_pacing
from newsalert.logs import configure_logging
from newsalert.config import Settings, get_settings
from newsalert.services.ingest.app import build_app

log = logging.getLogger("newsalert.ingest")








def run(host: str = "127.0.0.1", port: int = 8080, settings: Settings | None = None) -> None:
    """Serve the ingest API on ``host:port`` until SIGINT/SIGTERM."""
    settings = settings or get_settings()
    configure_logging(settings)
    kafka_pacing.install(settings)
    app = build_app(settings)
    log.info("ingest listening on http://%s:%d (broker %s, topic %s)", host, port, settings.kafka_bootstrap, settings.topic("articles"))
    web.run_app(app, host=host, port=port, shutdown_timeout=settings.shutdown_grace, print=None, access_log=None)
    log.info("ingest stopped")
