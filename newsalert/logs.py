"""Logging for every service: one line per event, as text or as JSON (``NEWSALERT_LOG_FORMAT=json``).

Secrets never reach a log line: subscribers' secrets are ``SecretStr`` everywhere they are held,
and no service logs request headers or rule files verbatim.
"""

from __future__ import annotations

import json
import logging
import sys

from newsalert.config import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonLines(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the exception when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": self.formatTime(record), "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(settings: Settings) -> None:
    """Log to stderr at the configured level and format; quiet aiokafka's reconnect noise."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines() if settings.log_format == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=settings.log_level.upper(), handlers=[handler], force=True)
    # aiokafka logs every refused connection as an error while the broker is away; the services
    # report that themselves, once per attempt.
    if settings.log_level.upper() != "DEBUG":
        logging.getLogger("aiokafka").setLevel(logging.WARNING)
        logging.getLogger("aiokafka.client").setLevel(logging.CRITICAL)
