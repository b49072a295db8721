"""The console's health URL setting: name=URL pairs, bad entries named."""

from __future__ import annotations

from newsalert.services.api.console.health import parse_health_urls


def test_pairs_are_read_and_bad_entries_reported() -> None:
    pairs, problems = parse_health_urls(" matcher=http://10.0.0.5:6066/healthz ,, notifier = https://n/healthz, oops, x=ftp://y")
    assert pairs == [("matcher", "http://10.0.0.5:6066/healthz"), ("notifier", "https://n/healthz")]
    assert len(problems) == 2 and "'oops'" in problems[0] and "'x=ftp://y'" in problems[1]
    assert parse_health_urls("") == ([], [])
