"""Keep aiokafka from spinning while the broker is unreachable, and its log to a few lines.

aiokafka 0.14.0 retries metadata with no pause, which burnt nearly a core and logged thousands of
lines per second on a stopped broker. ``install(settings)`` (called by each service's entry point)
adds capped exponential backoff to the metadata refresh. Details: ``docs/architecture.md``
("Broker outage pacing").
"""

from __future__ import annotations

import asyncio
import logging
import random

from aiokafka.client import AIOKafkaClient

from newsalert.adapters.outage import OutageReport
from newsalert.config import Settings
from newsalert.domain.backoff import Backoff

log = logging.getLogger("newsalert.broker")

_state: dict = {}


def broker_outage() -> OutageReport:
    """The process's report of broker outages (one per process: all clients share the broker)."""
    report = _state.get("report")
    if report is None:
        report = _state["report"] = OutageReport("Kafka broker", log)
    return report


def broker_backoff(settings: Settings) -> Backoff:
    """The backoff of every loop that waits for the broker, from the settings."""
    return Backoff(settings.broker_backoff_first, settings.broker_backoff_max, settings.backoff_jitter)


def install(settings: Settings) -> None:
    """Pace aiokafka's metadata refresh and hold back its outage lines (idempotent)."""
    _state["backoff"] = broker_backoff(settings)
    _state["report"] = OutageReport("Kafka broker", log, settings.outage_summary_interval)
    if settings.log_level.upper() != "DEBUG":
        _hold_back_library_lines()
    if getattr(AIOKafkaClient._metadata_update, "_paced", False):
        return
    original = AIOKafkaClient._metadata_update

    async def paced_metadata_update(client: AIOKafkaClient, cluster_metadata, topics) -> bool:
        updated = await original(client, cluster_metadata, topics)
        report = broker_outage()
        if updated:
            client._newsalert_failures = 0
            report.succeeded()
            return updated
        failures = getattr(client, "_newsalert_failures", 0) + 1
        client._newsalert_failures = failures
        report.failed(f"no metadata from {client._bootstrap_servers}")
        await asyncio.sleep(_state["backoff"].delay(failures, _rng))
        if cluster_metadata is client.cluster:
            # The synchronizer's own refresh: ask again once it waits, so the client keeps probing
            # (one try per backoff) and notices the broker's return without waiting for traffic.
            asyncio.get_running_loop().call_soon(client.force_metadata_update)
        return updated

    paced_metadata_update._paced = True
    AIOKafkaClient._metadata_update = paced_metadata_update


_rng = random.Random()


class _HoldBackDuringOutage(logging.Filter):
    """Drops (and counts) aiokafka's lines while the broker is known to be unreachable."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not broker_outage().hold_back()


def _hold_back_library_lines() -> None:
    """Put the filter on every aiokafka logger (a logger's filter sees only its own records)."""
    names = [name for name in logging.root.manager.loggerDict if name == "aiokafka" or name.startswith("aiokafka.")]
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _HoldBackDuringOutage) for f in logger.filters):
            logger.addFilter(_HoldBackDuringOutage())
