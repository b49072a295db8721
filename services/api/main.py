"""``newsalert serve api``: the one place that wires settings, logging and the HTTP app.

Refuses to start (exit status 1, nothing served) when ``NEWSALERT_API_TOKEN`` is not set, unless
``NEWSALERT_API_ALLOW_NO_TOKEN=true`` (development only: every request is then served without
authentication, and a warning says so at start), and when the ``--rules`` file is not valid.
Nothing connects at import time; ``run`` serves until SIGINT or SIGTERM.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from aiohttp import web

from newsalert.config import Settings, get_settings
from newsalert.domain.rulefile import RuleFileError, RuleSet
from newsalert.adapters.rule_files import load_rule_file
from newsalert.adapters import kafka_pacing
from newsalert.logs import configure_logging
from newsalert.services.api.app import build_app

log = logging.getLogger("newsalert.api")

EXIT_REFUSED = 1


def run(host: str = "127.0.0.1", port: int = 8083, rules_path: Path | None = None, settings: Settings | None = None) -> None:
    """Serve the subscription API on ``host:port`` until SIGINT/SIGTERM."""
    settings = settings or get_settings()
    configure_logging(settings)
    kafka_pacing.install(settings)
    problem = token_problem(settings)
    if problem:
        print(f"newsalert api: {problem}", file=sys.stderr)
        raise SystemExit(EXIT_REFUSED)
    if settings.api_token is None:
        log.warning("NEWSALERT_API_ALLOW_NO_TOKEN is set: the API serves every request WITHOUT authentication")
    rules = _load_rules(rules_path) if rules_path else None
    app = build_app(settings, rules)
    log.info("api listening on http://%s:%d (broker %s, topic %s)", host, port, settings.kafka_bootstrap, settings.topic("rules"))
    web.run_app(app, host=host, port=port, shutdown_timeout=settings.shutdown_grace, print=None, access_log=None)
    log.info("api stopped")


def token_problem(settings: Settings) -> str:
    """Why the API must not start with these settings ('' when it may)."""
    if settings.api_token is not None and not settings.api_token.get_secret_value().strip():
        return "NEWSALERT_API_TOKEN is set but blank; set a long random token"
    if settings.api_token is None and not settings.api_allow_no_token:
        return (
            "NEWSALERT_API_TOKEN is not set: refusing to serve subscriptions without authentication "
            "(for local development only, NEWSALERT_API_ALLOW_NO_TOKEN=true serves without it)"
        )
    return ""


def _load_rules(path: Path) -> RuleSet:
    """The ``--rules`` file, or every problem on stderr and exit status 1."""
    try:
        return load_rule_file(path)
    except RuleFileError as exc:
        print(f"newsalert api: {path} is not a valid rule file ({len(exc.problems)} problem(s)):", file=sys.stderr)
        for item in exc.problems:
            print(item.render(), file=sys.stderr)
        raise SystemExit(EXIT_REFUSED) from None
