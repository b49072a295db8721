"""Capped exponential backoff with jitter, and the outage report's few log lines."""

from __future__ import annotations

import logging
import random

import pytest

from newsalert.adapters.outage import OutageReport
from newsalert.config import Settings
from newsalert.domain.backoff import Backoff


def test_delays_double_up_to_the_cap_and_jitter_only_shortens():
    backoff = Backoff(0.5, 5.0, jitter=0.5)
    rng = random.Random(7)
    for failures, base in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 5.0), (40, 5.0), (10_000, 5.0)]:
        delays = [backoff.delay(failures, rng) for _ in range(200)]
        assert all(base * 0.5 <= d <= base for d in delays), (failures, min(delays), max(delays))
        assert max(delays) - min(delays) > base * 0.3  # really jittered


def test_no_jitter_is_exact():
    assert [Backoff(1, 8, jitter=0).delay(n) for n in range(1, 6)] == [1, 2, 4, 8, 8]


@pytest.mark.parametrize("args", [(0, 1), (2, 1), (1, 2, 1.0), (1, 2, -0.1)])
def test_bad_backoff_refused(args):
    with pytest.raises(ValueError):
        Backoff(*args)


def test_settings_refuse_a_cap_below_the_first_wait():
    with pytest.raises(ValueError, match="BROKER_BACKOFF_MAX"):
        Settings(broker_backoff_first=10, broker_backoff_max=1)
    assert Settings().broker_backoff_max >= Settings().broker_backoff_first


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_outage_report_logs_state_changes_and_a_summary_per_interval(caplog):
    clock = Clock()
    report = OutageReport("Kafka broker", logging.getLogger("t.outage"), interval=60, clock=clock)
    with caplog.at_level(logging.INFO, logger="t.outage"):
        assert not report.hold_back()  # up: library lines pass
        for _ in range(500):  # a retry every 0.25 s for 125 s
            report.failed("connection refused")
            assert report.hold_back()
            clock.now += 0.25
        report.succeeded()
        report.succeeded()  # already up: nothing more
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 4, lines
    assert lines[0].startswith("Kafka broker unreachable: connection refused")
    assert lines[1].startswith("Kafka broker still unreachable after 60 s: 241 failed tries, 240 library log line(s) held back")
    assert lines[2].startswith("Kafka broker still unreachable after 120 s")
    assert lines[3].startswith("Kafka broker reachable again after 125.0 s (500 failed tries")
    assert not report.down and not report.hold_back()
