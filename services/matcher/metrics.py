"""Prometheus metrics of a matcher worker, served at ``/metrics`` on its faust web port.

Read from ``MatcherState`` at scrape time by a custom collector in a registry of its own (no
global registry: tests build several apps in one interpreter), so the hot path only bumps plain
integers:

- ``newsalert_matcher_articles_consumed_total``   articles whose outputs the broker acknowledged
  (matched or dead-lettered) and that were acked for commit;
- ``newsalert_matcher_articles_rejected_total``   of those, dead-lettered to ``articles.rejected``;
- ``newsalert_matcher_matches_produced_total``    alerts produced to ``matches`` (acknowledged);
- ``newsalert_matcher_publish_retries_total``     re-publications after the broker failed;
- ``newsalert_matcher_in_flight``                 articles sent, not yet acknowledged;
- ``newsalert_matcher_consumer_lag{topic,partition}`` log-end minus committed offset of each
  partition assigned to this worker, as the stall watchdog last saw it;
- ``newsalert_matcher_rules_loaded``              rules in the effective rule set;
- ``newsalert_matcher_ruleset_info{version}``     1, labelled with the rule-set version in use;
- ``newsalert_matcher_stalled``                   1 once stall detection fired (the worker exits).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4"  # aiohttp refuses a charset parameter here; the text is ASCII


class MatcherCollector(Collector):
    """Turns a ``MatcherState`` (and the in-flight count) into metric families at each scrape."""

    def __init__(self, state, in_flight: Callable[[], int] = lambda: 0) -> None:
        self._state = state
        self._in_flight = in_flight

    def collect(self) -> Iterator[Metric]:
        s = self._state
        yield CounterMetricFamily("newsalert_matcher_articles_consumed", "Articles processed and acknowledged.", value=s.consumed)
        yield CounterMetricFamily("newsalert_matcher_articles_rejected", "Articles dead-lettered to articles.rejected.", value=s.rejected)
        yield CounterMetricFamily("newsalert_matcher_matches_produced", "Alerts produced to matches.", value=s.alerts)
        yield CounterMetricFamily("newsalert_matcher_publish_retries", "Re-publications after a broker failure.", value=s.publish_retries)
        yield GaugeMetricFamily("newsalert_matcher_in_flight", "Articles sent, not yet acknowledged.", value=self._in_flight())
        lag = GaugeMetricFamily(
            "newsalert_matcher_consumer_lag", "Log-end minus committed offset per assigned partition.", labels=["topic", "partition"]
        )
        for (topic, partition), value in sorted(s.lag.items()):
            lag.add_metric([topic, str(partition)], value)
        yield lag
        yield GaugeMetricFamily("newsalert_matcher_rules_loaded", "Rules in the effective rule set.", value=s.rules_loaded)
        yield InfoMetricFamily("newsalert_matcher_ruleset", "The rule-set version in use.", value={"version": s.matcher.ruleset_version})
        yield GaugeMetricFamily("newsalert_matcher_stalled", "1 once stall detection fired.", value=int(s.stalled is not None))


def matcher_registry(state, in_flight: Callable[[], int] = lambda: 0) -> CollectorRegistry:
    """A registry holding only the matcher's collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MatcherCollector(state, in_flight))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The registry in the Prometheus text format."""
    return generate_latest(registry)
