"""``newsalert topics create|list``: the topic catalogue on the broker."""

from __future__ import annotations

import asyncio

import click

from newsalert.adapters.topics import catalogue, ensure_topics
from newsalert.config import get_settings
from newsalert.errors import NewsalertError


@click.group()
def topics() -> None:
    """Create and list the service's topics (behind NEWSALERT_TOPIC_PREFIX)."""


@topics.command("create")
def create() -> None:
    """Create every missing topic with its configured partitions (idempotent)."""
    settings = get_settings()
    try:
        created = asyncio.run(ensure_topics(settings))
    except NewsalertError as exc:
        raise click.ClickException(str(exc)) from exc
    for spec in catalogue(settings):
        name = settings.topic(spec.name)
        state = "created" if name in created else "exists"
        click.echo(f"{name:40} {spec.partitions:3} partitions  {state}")


@topics.command("list")
def list_() -> None:
    """Show the catalogue: full names, partitions and purpose."""
    settings = get_settings()
    for spec in catalogue(settings):
        click.echo(f"{settings.topic(spec.name):40} {spec.partitions:3}  {spec.purpose}")
