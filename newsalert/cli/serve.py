"""``newsalert serve NAME``: run one service in the foreground until SIGINT/SIGTERM.

Each service lives in ``services/<name>/`` and exposes ``run(...)``, which wires the settings,
the clients and the domain together. This module only parses flags; it imports a service only
when that service is asked for, so the other services' dependencies are never loaded.
"""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def serve() -> None:
    """Run a service in the foreground (configuration from NEWSALERT_* variables and flags)."""


@serve.command("ingest")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, help="HTTP port (POST /articles, /healthz, /readyz, /metrics).")
def ingest(host: str, port: int) -> None:
    """HTTP ingest: validate, clean and publish articles to the articles topic."""
    from newsalert.services.ingest.main import run

    run(host=host, port=port)


@serve.command("feeds")
@click.option("--feeds", "feeds_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Feed file (YAML: feeds: [{id, url, ...}]).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8084, show_default=True, help="HTTP port of /healthz, /readyz, /metrics.")
def feeds(feeds_path: Path, host: str, port: int) -> None:
    """Poll RSS, Atom and JSON Feed URLs; publish each new entry to the articles topic."""
    from newsalert.services.feeds.main import run

    run(feeds_path=feeds_path, host=host, port=port)


@serve.command("matcher")
@click.option("--rules", "rules_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Watch-rule YAML file.")
@click.option("--port", default=8081, show_default=True, help="HTTP port of /healthz, /readyz, /metrics.")
def matcher(rules_path: Path, port: int) -> None:
    """faust worker: match each article against the rules, publish alerts to the matches topic."""
    from newsalert.services.matcher.main import run

    run(rules_path=rules_path, port=port)


@serve.command("notifier")
@click.option("--rules", "rules_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Watch-rule YAML file (for the subscribers).")
@click.option("--port", default=8082, show_default=True, help="HTTP port of /healthz, /readyz, /metrics.")
def notifier(rules_path: Path, port: int) -> None:
    """Deliver alerts from the matches topic to the subscribers' webhooks, signed."""
    from newsalert.services.notifier.main import run

    run(rules_path=rules_path, port=port)


@serve.command("webhook-sink")
@click.option("--rules", "rules_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Rule file whose subscriber secrets verify the signatures.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8787, show_default=True, help="HTTP port; alerts are POSTed to /hooks/<subscriber>.")
@click.option("--record", "record_path", type=click.Path(dir_okay=False, path_type=Path), help="Append every received alert as a JSON line here.")
def webhook_sink(rules_path: Path | None, host: str, port: int, record_path: Path | None) -> None:
    """A demo webhook receiver: verifies signatures and prints each alert."""
    from newsalert.services.webhook_sink.main import run

    run(rules_path=rules_path, host=host, port=port, record_path=record_path)


@serve.command("api")
@click.option("--rules", "rules_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Rule file whose rule ids subscriptions may follow (default: the rule set on the rules topic).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8083, show_default=True, help="HTTP port (/subscriptions, /rules/test, /openapi.json, /healthz, /readyz, /metrics).")
def api(rules_path: Path | None, host: str, port: int) -> None:
    """Subscription API: webhook subscriptions with intent verification (needs NEWSALERT_API_TOKEN)."""
    from newsalert.services.api.main import run

    run(host=host, port=port, rules_path=rules_path)
