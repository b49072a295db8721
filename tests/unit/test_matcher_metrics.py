"""The matcher's /metrics text: every documented family is there with the state's values."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from newsalert.services.matcher.app import MatcherState
from newsalert.services.matcher.metrics import matcher_registry, render


class FakeMatcher:
    ruleset_version = "abc123"


def test_metrics_reflect_the_state():
    state = MatcherState(matcher=FakeMatcher(), rules_loaded=12)  # type: ignore[arg-type]
    state.consumed, state.rejected, state.alerts = 10, 2, 7
    state.lag = {("articles", 0): 5, ("articles", 1): 0}
    text = render(matcher_registry(state, lambda: 3)).decode()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in text_string_to_metric_families(text) for s in f.samples}
    assert samples[("newsalert_matcher_articles_consumed_total", ())] == 10
    assert samples[("newsalert_matcher_articles_rejected_total", ())] == 2
    assert samples[("newsalert_matcher_matches_produced_total", ())] == 7
    assert samples[("newsalert_matcher_in_flight", ())] == 3
    assert samples[("newsalert_matcher_consumer_lag", (("partition", "0"), ("topic", "articles")))] == 5
    assert samples[("newsalert_matcher_rules_loaded", ())] == 12
    assert samples[("newsalert_matcher_ruleset_info", (("version", "abc123"),))] == 1
    assert samples[("newsalert_matcher_stalled", ())] == 0
    state.stalled = "articles[0] lag 5"
    assert "newsalert_matcher_stalled 1.0" in render(matcher_registry(state)).decode()
