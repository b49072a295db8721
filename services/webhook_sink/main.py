"""``newsalert serve webhook-sink``: the demo webhook receiver in the foreground.

With ``--rules`` every request must carry a valid signature made with its subscriber's secret(s)
from that rule file; without it signatures are not checked (said once at start). Alerts are
printed one line each on stdout and, with ``--record``, appended as JSON lines to that file.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Sequence

from aiohttp import web

from newsalert.config import get_settings
from newsalert.logs import configure_logging
from newsalert.domain.delivery.signing import Secret
from newsalert.errors import RuleFileError
from newsalert.domain.delivery.endpoints import endpoints_from_subscribers
from newsalert.services.webhook_sink.app import create_app

log = logging.getLogger("newsalert.webhook_sink")

EXIT_BAD_RULES = 1


def run(rules_path: Path | None, host: str = "127.0.0.1", port: int = 8787, record_path: Path | None = None) -> None:
    """Serve the sink on ``host:port`` until SIGINT/SIGTERM."""
    settings = get_settings()
    configure_logging(settings)
    secrets = load_secrets_or_exit(rules_path) if rules_path is not None else None
    if secrets is None:
        log.warning("no --rules given: signatures are NOT verified")
    app = create_app(secrets, record_path, echo=_print_line)
    log.info("webhook sink on http://%s:%d/hooks/<subscriber>%s", host, port, f", recording to {record_path}" if record_path else "")
    web.run_app(app, host=host, port=port, print=None, access_log=None)


def load_secrets_or_exit(rules_path: Path) -> dict[str, Sequence[Secret]]:
    """Subscriber id -> secrets from the rule file, or its problems on stderr and exit 1."""
    from newsalert.adapters.rule_files import load_rule_file

    try:
        ruleset = load_rule_file(rules_path)
    except RuleFileError as exc:
        print(f"newsalert webhook-sink: {rules_path} is not a valid rule file:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem.render()}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_RULES) from None
    return {sid: endpoint.secrets for sid, endpoint in endpoints_from_subscribers(ruleset.subscribers).items()}


def _print_line(line: str) -> None:
    print(line, flush=True)
