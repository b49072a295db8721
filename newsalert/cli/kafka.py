"""``newsalert kafka start|stop|status``: the local Apache Kafka broker, or a local cluster (see
adapters/local_kafka).

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


def _nodes(port: int | None = None, nodes: int | None = None, auth: str | None = None) -> tuple[local_kafka.Layout, list[local_kafka.BrokerConfig]]:
    """The layout asked for (completed from the one recorded in the home) and its nodes."""
    settings = get_settings()
    layout = local_kafka.choose(settings, port, nodes, auth)
    return layout, local_kafka.node_configs(settings, layout)


def _fail(exc: SetupError) -> None:
    click.echo(f"error: {exc}", err=True)
    raise SystemExit(1)


@click.group()
def kafka() -> None:
    """Run a local Apache Kafka broker or cluster (KRaft, 127.0.0.1) from Maven Central jars, no Docker."""


@kafka.command("start")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="Client port (default NEWSALERT_KAFKA_PORT, 9092); the controller takes port+1. With --nodes, "
                   "node i uses port+3(i-1) (client), +1 (controller), +2 (SASL_SSL).")
@click.option("--nodes", type=click.IntRange(1, 9), default=None,
              help="Brokers of a local KRaft cluster (each also a controller), e.g. 3; remembered for status and stop.")
@click.option("--auth", type=click.Choice(local_kafka.layout.AUTH_MODES), default=None,
              help="scram: also a SASL_SSL listener (client port+2) with a generated CA and a SCRAM user.")
def start_cmd(port: int | None, nodes: int | None, auth: str | None) -> None:
    """Start the broker(s) and wait until they answer; a no-op for those already running."""
    try:
        layout, cfgs = _nodes(port, nodes, auth)
        results = local_kafka.start_nodes(cfgs)
        if layout.nodes > 1 or layout.auth != "none":
            local_kafka.write_layout(cfgs[0].home, layout)
    except SetupError as exc:
        _fail(exc)
        return
    for result in results:
        if result.already_running:
            click.echo(f"already running: Kafka {result.version} pid {result.pid} on {result.bootstrap} (nothing done)")
            continue
        if result.jar_seconds is not None:
            click.echo(f"downloaded Kafka {result.version} jars in {result.jar_seconds:.1f} s")
        click.echo(f"started Kafka {result.version} pid {result.pid} on {result.bootstrap} in {result.start_seconds:.1f} s "
                   f"(log: {result.log_file})")
    if layout.auth == "scram":
        click.echo("clients connect with:")
        for name, value in local_kafka.layout.client_env(cfgs).items():
            click.echo(f"  {name}={value}")
        click.echo(f"  NEWSALERT_KAFKA_SASL_PASSWORD=<the password in {local_kafka.scram.user_file(cfgs[0].cluster_root)}>")


@kafka.command("stop")
@click.option("--force", is_flag=True, help="Stop it even while test sessions are using it.")
def stop_cmd(force: bool) -> None:
    """Stop the broker(s) started by newsalert for this home (never a broker started otherwise)."""
    try:
        _, cfgs = _nodes()
        if len(cfgs) == 1:
            results = [local_kafka.stop(cfgs[0], force=force)]
        else:
            results = local_kafka.stop_nodes(cfgs)
    except SetupError as exc:
        _fail(exc)
        return
    for result in results:
        click.echo(result.message)


@kafka.command("status")
def status_cmd() -> None:
    """Say whether our broker(s) run, a foreign broker answers on the port, or nothing does (exit 3)."""
    try:
        _, cfgs = _nodes()
        results = [local_kafka.status(cfg) for cfg in cfgs]
    except SetupError as exc:
        _fail(exc)
        return
    for cfg, result in zip(cfgs, results):
        prefix = f"node {cfg.node_id}: " if len(cfgs) > 1 else ""
        click.echo(prefix + result.message)
    if all(result.state == "stopped" for result in results):
        raise SystemExit(NOT_RUNNING)
