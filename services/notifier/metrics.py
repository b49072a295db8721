"""Prometheus metrics of the notifier, served at ``/metrics`` on its health port.

Own registry per process object (tests run several notifiers in one interpreter), like ingest.

- ``newsalert_notifier_attempts_total{outcome}``      every attempt by outcome (delivered,
  http_error, rate_limited, gone, timeout, connection_error, blocked, circuit_open);
- ``newsalert_notifier_deliveries_total{result}``    what became of each alert handled:
  delivered, retry_scheduled, dead (retries used up, gone, blocked, disabled), rejected
  (malformed record dead-lettered to matches.rejected), held (for a digest), duplicate (the
  story reached the subscriber's rule already within the de-duplication window);
- ``newsalert_notifier_delivery_seconds``            latency of the HTTP attempts;
- ``newsalert_notifier_retries_pending``             records on the retry topics not yet settled;
- ``newsalert_notifier_consumer_lag{topic,partition}`` records of an assigned partition not yet
  settled (not fetched yet, plus fetched and in progress);
- ``newsalert_notifier_breakers_open``               endpoints whose circuit breaker is not closed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aiokafka.errors import KafkaError
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


@dataclass
class NotifierMetrics:
    """The notifier's metrics in their own registry; see the module docstring."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.attempts = Counter("newsalert_notifier_attempts", "Delivery attempts by outcome.", ["outcome"], registry=r)
        self.deliveries = Counter("newsalert_notifier_deliveries", "Alerts handled, by result.", ["result"], registry=r)
        self.latency = Histogram(
            "newsalert_notifier_delivery_seconds", "Latency of webhook POSTs.", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.retries_pending = Gauge("newsalert_notifier_retries_pending", "Records on the retry topics not yet settled.", registry=r)
        self.lag = Gauge(
            "newsalert_notifier_consumer_lag", "Records of an assigned partition not yet settled.", ["topic", "partition"], registry=r
        )
        self.breakers_open = Gauge("newsalert_notifier_breakers_open", "Endpoints whose circuit breaker is open or half-open.", registry=r)
        # Labelled children by label value: ``labels()`` locks and hashes on every call, and these
        # two are counted once or twice per alert.
        self._attempt_children: dict[str, object] = {}
        self._delivery_children: dict[str, object] = {}

    def count_attempt(self, outcome: str) -> None:
        """One more attempt with ``outcome``."""
        child = self._attempt_children.get(outcome)
        if child is None:
            child = self._attempt_children[outcome] = self.attempts.labels(outcome)
        child.inc()

    def count_delivery(self, result: str, alerts: int = 1) -> None:
        """``alerts`` more alerts handled with ``result`` (delivered, retry_scheduled, dead, rejected,
        held, duplicate); a batch counts each alert it carries."""
        child = self._delivery_children.get(result)
        if child is None:
            child = self._delivery_children[result] = self.deliveries.labels(result)
        child.inc(alerts)


@dataclass
class NotifierStats:
    """Counters shown on the health endpoints and in the shutdown log line."""

    fetched: int = 0
    delivered: int = 0
    retried: int = 0
    given_up: int = 0
    rejected: int = 0
    commits: int = 0
    held: int = 0  # alerts held back by a rate limit for a digest
    duplicates: int = 0  # alerts not sent: their story reached the (subscriber, rule) already
    digests: int = 0  # digests delivered
    batches: int = 0  # batches delivered (batch_max)
    batched: int = 0  # alerts delivered inside those batches


async def update_lag(metrics: NotifierMetrics, consumer, tracker, matches_topic: str) -> None:
    """Refresh the lag gauges: per assigned partition, records not fetched plus not settled."""
    retries = 0
    for tp in consumer.assignment():
        highwater = consumer.highwater(tp)
        if highwater is None:
            continue
        try:
            position = await consumer.position(tp)
        except KafkaError:
            continue
        lag = max(highwater - position, 0) + tracker.pending(tp)
        metrics.lag.labels(tp.topic, str(tp.partition)).set(lag)
        if tp.topic != matches_topic:
            retries += lag
    metrics.retries_pending.set(retries)
