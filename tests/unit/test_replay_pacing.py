"""Token-bucket pacing of ``newsalert replay``, on a fake clock."""

from __future__ import annotations

import pytest

from newsalert.cli.replay import TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_up_to_capacity_then_waits_at_the_rate():
    clock = Clock()
    bucket = TokenBucket(rate=10, capacity=5, clock=clock)
    assert bucket.take(5) == 0.0
    assert bucket.take(5) == pytest.approx(0.5)  # 5 tokens at 10/s


def test_long_run_rate_is_exact_when_the_caller_sleeps_as_told():
    clock = Clock()
    bucket = TokenBucket(rate=50, capacity=2, clock=clock)
    for _ in range(500):
        clock.now += bucket.take(2)
    # 1,000 articles at 50/s: 20 s, less the initial burst of 2.
    assert clock.now - 100.0 == pytest.approx(19.96)


def test_idle_time_saves_at_most_capacity():
    clock = Clock()
    bucket = TokenBucket(rate=1, capacity=3, clock=clock)
    bucket.take(3)
    clock.now += 60
    assert bucket.take(3) == 0.0
    assert bucket.take(1) == pytest.approx(1.0)


def test_rate_must_be_positive():
    with pytest.raises(ValueError):
        TokenBucket(rate=0, capacity=1)
