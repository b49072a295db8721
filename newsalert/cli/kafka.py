"""``newsalert kafka start|stop|status``: the local Apache Kafka broker (see adapters/local_kafka).

Exit codes: 0 done (including "already running" and "nothing to stop"), 1 error, message on
stderr; ``status`` exits 3 when no broker answers (the LSB "not running" code, so scripts can
test it), 0 when one does. From Python use ``start_broker()``, which returns the result instead of printing.
"""

from __future__ import annotations

import click

from newsalert.adapters import local_kafka
from newsalert.config import Settings, get_settings
from newsalert.errors import SetupError

NOT_RUNNING = 3


def start_broker(settings: Settings | None = None, port: int | None = None, purpose: str = "cli") -> local_kafka.StartResult:
    """Start the local broker of ``settings`` (default: the environment's) and return what happened;
    raises SetupError when it cannot. Used by the tests and the demo."""
    cfg = local_kafka.BrokerConfig.from_settings(settings or get_settings(), port=port)
    return local_kafka.start(cfg, purpose=purpose)


def _config(port: int | None = None) -> local_kafka.BrokerConfig:
    return local_kafka.BrokerConfig.from_settings(get_settings(), port=port)


def _fail(exc: SetupError) -> None:
    click.echo(f"error: {exc}", err=True)
    raise SystemExit(1)


@click.group()
def kafka() -> None:
    """Run a local Apache Kafka broker (KRaft, 127.0.0.1) from Maven Central jars, no Docker."""


@kafka.command("start")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="Client port (default NEWSALERT_KAFKA_PORT, 9092); the controller takes port+1.")
def start_cmd(port: int | None) -> None:
    """Start the broker and wait until it answers; a no-op when it already runs."""
    try:
        result = start_broker(port=port)
    except SetupError as exc:
        _fail(exc)
        return
    if result.already_running:
        click.echo(f"already running: Kafka {result.version} pid {result.pid} on {result.bootstrap} (nothing done)")
        return
    if result.jar_seconds is not None:
        click.echo(f"downloaded Kafka {result.version} jars in {result.jar_seconds:.1f} s")
    click.echo(f"started Kafka {result.version} pid {result.pid} on {result.bootstrap} in {result.start_seconds:.1f} s "
               f"(log: {result.log_file})")


@kafka.command("stop")
@click.option("--force", is_flag=True, help="Stop it even while test sessions are using it.")
def stop_cmd(force: bool) -> None:
    """Stop the broker started by newsalert (never a broker started otherwise)."""
    try:
        result = local_kafka.stop(_config(), force=force)
    except SetupError as exc:
        _fail(exc)
        return
    click.echo(result.message)


@kafka.command("status")
def status_cmd() -> None:
    """Say whether our broker runs, a foreign broker answers on the port, or nothing does (exit 3)."""
    try:
        result = local_kafka.status(_config())
    except SetupError as exc:
        _fail(exc)
        return
    click.echo(result.message)
    if result.state == "stopped":
        raise SystemExit(NOT_RUNNING)
