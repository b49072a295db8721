"""``newsalert topics create|list``: the topic catalogue on the broker."""

from __future__ import annotations

import asyncio

import click

from newsalert.adapters.topic_drift import topic_drift
from newsalert.adapters.topics import catalogue, ensure_topics
from newsalert.config import get_settings
from newsalert.errors import NewsalertError


@click.group()
def topics() -> None:
    """Create and list the service's topics (behind NEWSALERT_TOPIC_PREFIX)."""


@topics.command("create")
def create() -> None:
    """Create every missing topic with its configured partitions and replication (idempotent);
    report existing topics whose layout differs from the settings (exit 0: nothing is changed)."""
    settings = get_settings()
    try:
        created = asyncio.run(ensure_topics(settings))
        drift = asyncio.run(topic_drift(settings))
    except NewsalertError as exc:
        raise click.ClickException(str(exc)) from exc
    rf = settings.replication_factor
    for spec in catalogue(settings):
        name = settings.topic(spec.name)
        state = "created" if name in created else "exists"
        click.echo(f"{name:40} {spec.partitions:3} partitions  x{rf}  {state}")
    if drift:
        click.echo(f"\n{len(drift)} setting(s) of existing topics differ from the configuration (left unchanged):", err=True)
        for item in drift:
            click.echo(f"  {item.render()}", err=True)


@topics.command("list")
def list_() -> None:
    """Show the catalogue: full names, partitions and purpose."""
    settings = get_settings()
    for spec in catalogue(settings):
        click.echo(f"{settings.topic(spec.name):40} {spec.partitions:3}  {spec.purpose}")
