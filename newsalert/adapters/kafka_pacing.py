"""Keep aiokafka from spinning while the broker is unreachable, and its log to a few lines.

Why: aiokafka 0.14.0 refreshes metadata with no pause after a failure. Its producer's sender loop
(pending batches whose leader is unknown), its fetcher and its group coordinator each ask for a
refresh (``AIOKafkaClient.force_metadata_update``); the client's synchronizer task tries every
known broker, a refused connection on 127.0.0.1 fails at once, the waiters wake and ask again.
Measured with py-spy on a stopped broker: that cycle (``_md_synchronizer`` -> ``_metadata_update``
-> ``_get_conn`` -> ``create_conn``) was nearly all of the ~95 % of a core the notifier (and the
matcher, with alerts in flight) used, and each turn logged two ERROR lines (80,000 lines in 12 s).

``install(settings)`` (called once by every service's entry point, never at import time) wraps
``AIOKafkaClient._metadata_update``: after a failed refresh the synchronizer sleeps a capped
exponential backoff with jitter (``NEWSALERT_BROKER_BACKOFF_FIRST``/``_MAX``, see
``newsalert.domain.backoff``) before it answers its waiters, so every component of that client
waits with it; a successful refresh resets the backoff. The synchronizer then asks again by itself,
so a client keeps probing (one connection attempt per backoff) until the broker answers: recovery
is at most one backoff late, and the "reachable again" line comes even from an idle client.
faust's consumer and producer are aiokafka clients too, so the matcher is covered the same way.

The process's ``broker_outage()`` report (``newsalert.adapters.outage``) logs one warning when the
broker becomes unreachable, a summary per ``NEWSALERT_OUTAGE_SUMMARY_INTERVAL`` and one line when
it is back; meanwhile aiokafka's own lines (a few per retry) are held back and counted, unless
the log level is DEBUG. The services' own retry loops report to the same object.
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
