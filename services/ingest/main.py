"""``newsalert serve ingest``: the one place that wires settings, logging and the HTTP app.

Nothing connects at import time. ``run`` serves until SIGINT or SIGTERM; aiohttp then stops
accepting connections, lets in-flight requests finish (up to ``NEWSALERT_SHUTDOWN_GRACE``
seconds), and the app's cleanup flushes and closes the producer.
"""

from __future__ import annotations

import json
import logging
import sys

from aiohttp import web

from newsalert.config import Settings, get_settings
from services.ingest.app import build_app

log = logging.getLogger("newsalert.ingest")


class _JsonFormatter(logging.Formatter):
    """One JSON object per line, for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": self.formatTime(record), "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(settings: Settings) -> None:
    """Log to stderr in the configured format and level."""
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=settings.log_level.upper(), handlers=[handler], force=True)
    # aiokafka logs every refused connection as an error while the broker is down; the connect
    # loop already reports that once per attempt.
    logging.getLogger("aiokafka.client").setLevel(logging.CRITICAL if settings.log_level.upper() != "DEBUG" else logging.DEBUG)


def run(host: str = "127.0.0.1", port: int = 8080, settings: Settings | None = None) -> None:
    """Serve the ingest API on ``host:port`` until SIGINT/SIGTERM."""
    settings = settings or get_settings()
    configure_logging(settings)
    app = build_app(settings)
    log.info("ingest listening on http://%s:%d (broker %s, topic %s)", host, port, settings.kafka_bootstrap, settings.topic("articles"))
    web.run_app(app, host=host, port=port, shutdown_timeout=settings.shutdown_grace, print=None, access_log=None)
    log.info("ingest stopped")
