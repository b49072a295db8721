"""``newsalert deliveries list|replay|enable``: inspect delivery attempts, re-send dead alerts.

- ``list --subscriber ID [--limit N] [--json]``: the subscriber's attempts from
  ``deliveries.attempts``, newest first;
- ``replay --subscriber ID [--since TIME]``: re-publish the subscriber's dead alerts from
  ``deliveries.dead`` to ``matches`` with their original ``webhook_id``; TIME is ISO-8601
  (``2024-05-01T12:00``, UTC if no zone) or an age (``90m``, ``2h``, ``3d``);
- ``enable --subscriber ID``: undo the disabling of a subscriber after a 410 Gone.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta, timezone

import click

from newsalert.config import get_settings
from newsalert.errors import NewsalertError

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``--since`` as a UTC datetime: an ISO-8601 time or an age such as ``2h`` before ``now``."""
    age = _AGE.match(text)
    if age:
        return (now or datetime.now(timezone.utc)) - timedelta(seconds=float(age.group(1)) * _UNIT_S[age.group(2)])
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is neither an ISO-8601 time nor an age like 90m, 2h, 3d") from None
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)


def _run(coro):
    try:
        return asyncio.run(coro)
    except NewsalertError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
def deliveries() -> None:
    """Delivery attempts, dead letters and subscriber state (behind NEWSALERT_TOPIC_PREFIX)."""


@deliveries.command("list")
@click.option("--subscriber", required=True, help="Subscriber id.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1), help="Show at most this many attempts.")
@click.option("--json", "as_json", is_flag=True, help="One DeliveryAttempt JSON object per line.")
def list_(subscriber: str, limit: int, as_json: bool) -> None:
    """Show the subscriber's delivery attempts, newest first."""
    from newsalert.adapters.delivery_history import attempts_of

    found = _run(attempts_of(get_settings(), subscriber, limit))
    if as_json:
        for attempt in found:
            click.echo(attempt.model_dump_json())
        return
    if not found:
        click.echo(f"no delivery attempts recorded for {subscriber}")
        return
    click.echo(f"{'at (UTC)':23}  {'webhook-id':36}  {'#':>2}  {'outcome':16}  {'status':>6}  {'ms':>7}  detail")
    for a in found:
        detail = a.error or (a.response_body or "")
        if a.next_attempt_at:
            detail += f" (next {a.next_attempt_at:%H:%M:%S})"
        click.echo(
            f"{a.at:%Y-%m-%d %H:%M:%S.%f}"[:23] + f"  {a.webhook_id:36}  {a.attempt:>2}  {a.outcome:16}  "
            f"{a.status_code or '-':>6}  {a.latency_ms:7.1f}  {detail[:100].replace(chr(10), ' ')}"
        )


@deliveries.command("replay")
@click.option("--subscriber", required=True, help="Subscriber id.")
@click.option("--since", "since_text", help="Only alerts dead since this time (ISO-8601, or an age: 90m, 2h, 3d).")
def replay(subscriber: str, since_text: str | None) -> None:
    """Re-send the subscriber's dead alerts, keeping their original webhook-id."""
    from newsalert.adapters import delivery_history as history

    settings = get_settings()
    since = parse_since(since_text) if since_text else None
    dead = _run(history.dead_of(settings, subscriber, since))
    state = _run(history.state_of(settings, subscriber))
    if state is not None and state.status == "disabled":
        click.echo(f"warning: {subscriber} is disabled ({state.reason}); the notifier dead-letters its alerts "
                   f"until `newsalert deliveries enable --subscriber {subscriber}`", err=True)
    count = _run(history.replay(settings, dead))
    click.echo(f"replayed {count} dead alert(s) of {subscriber} to {settings.topic('matches')}")


@deliveries.command("enable")
@click.option("--subscriber", required=True, help="Subscriber id.")
def enable(subscriber: str) -> None:
    """Enable a subscriber disabled after a 410 Gone (its new alerts are delivered again)."""
    from newsalert.schemas import SubscriberState
    from newsalert.adapters.delivery_history import set_state

    state = SubscriberState(subscriber=subscriber, status="enabled", reason="enabled with newsalert deliveries enable",
                            at=datetime.now(timezone.utc))
    _run(set_state(get_settings(), state))
    click.echo(f"{subscriber} enabled")
