"""The pure delivery policy: schedule parsing, jitter bounds, Retry-After clamping, the throttle
floor, retry tiers, the decision after an attempt, and the circuit breaker's transitions."""

from __future__ import annotations

import random

import pytest

from newsalert.config import Settings
from newsalert.domain.delivery import outcome as oc
from newsalert.domain.delivery.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from newsalert.domain.delivery.retry import (
    DEAD,
    DEFAULT_SCHEDULE,
    DONE,
    RETRY,
    WAIT,
    RetryPolicy,
    next_step,
    parse_delays,
    tier_for,
    tier_name,
)

FAIL = oc.from_status(500)


def test_default_schedule_is_the_documented_one() -> None:
    assert parse_delays(DEFAULT_SCHEDULE) == (5, 300, 1800, 7200, 18000, 36000, 36000)
    settings = Settings()
    assert settings.retry_schedule == DEFAULT_SCHEDULE
    assert settings.retry_jitter == 0.2 and settings.retry_throttle_floor == 60.0
    assert RetryPolicy.from_text(DEFAULT_SCHEDULE).max_attempts == 8


@pytest.mark.parametrize("text, problem", [("1,,x", "'x'"), ("-2", "-2"), ("nan", "nan"), ("700000", "week")])
def test_schedule_parsing_names_the_bad_item(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_delays(text)


def test_bad_schedule_setting_refused_at_startup() -> None:
    with pytest.raises(ValueError, match="'soon'"):
        Settings(retry_schedule="5,soon")
    with pytest.raises(ValueError):
        Settings(retry_jitter=1.5)


def test_schedule_of_too_many_delays_refused() -> None:
    with pytest.raises(ValueError, match="at most 50"):
        parse_delays(",".join(["1"] * 51))


def test_jitter_stays_within_twenty_percent_and_spreads() -> None:
    policy = RetryPolicy.from_text(DEFAULT_SCHEDULE, throttle_floor=0)
    rng = random.Random(1)
    for attempt, scheduled in enumerate(policy.delays, start=1):
        delays = [policy.next_delay(attempt, FAIL, rng) for _ in range(300)]
        assert all(0.8 * scheduled <= d <= 1.2 * scheduled for d in delays)
        assert max(delays) - min(delays) > 0.2 * scheduled  # really random, not a constant
    assert policy.next_delay(len(policy.delays) + 1, FAIL, rng) is None


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("hint, expected", [("1", 10.0), ("15", 15.0), ("20", 20.0), ("3600", 20.0)])
def test_retry_after_clamped_between_the_scheduled_delay_and_twice_it(status: int, hint: str, expected: float) -> None:
    policy = RetryPolicy((10.0,), jitter=0.2, throttle_floor=0)
    assert policy.next_delay(1, oc.from_status(status, hint), random.Random(3)) == expected


def test_retry_after_as_http_date() -> None:
    policy = RetryPolicy((10.0,), jitter=0.0, throttle_floor=0)
    from datetime import datetime, timezone

    now = datetime(2024, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    result = oc.from_status(503, "Mon, 01 Jan 2024 12:00:14 GMT", now=now)
    assert policy.next_delay(1, result) == 14.0


def test_timeout_and_429_raise_the_delay_to_the_floor_other_failures_do_not() -> None:
    policy = RetryPolicy.from_text(DEFAULT_SCHEDULE, jitter=0.2)  # floor 60 s by default
    rng = random.Random(5)
    timeout = oc.from_failure(oc.FailureKind.TIMEOUT, "slow")
    assert all(policy.next_delay(1, timeout, rng) == 60.0 for _ in range(50))
    assert policy.next_delay(1, oc.from_status(429), rng) == 60.0  # 429 without Retry-After too
    assert policy.next_delay(1, oc.from_status(429, "7"), rng) == 60.0
    assert 4.0 <= policy.next_delay(1, oc.from_status(503), rng) <= 6.0
    assert 4.0 <= policy.next_delay(1, oc.from_failure(oc.FailureKind.CONNECTION, "refused"), rng) <= 6.0
    # Above the floor the schedule wins.
    assert 240 <= policy.next_delay(2, timeout, rng) <= 360


def test_tiers_are_the_distinct_delays_and_the_floor() -> None:
    policy = RetryPolicy.from_text(DEFAULT_SCHEDULE)
    assert policy.tiers() == (5, 60, 300, 1800, 7200, 18000, 36000)
    assert RetryPolicy.from_text("1,1,2", throttle_floor=0).tiers() == (1, 2)
    assert RetryPolicy.from_text("", throttle_floor=60).tiers() == ()
    tiers = policy.tiers()
    assert tier_for(4.1, tiers) == 5  # jitter below the smallest tier
    assert tier_for(6.0, tiers) == 5 and tier_for(60, tiers) == 60 and tier_for(400, tiers) == 300
    assert tier_for(80000, tiers) == 36000
    assert [tier_name(t) for t in (5.0, 0.5, 36000.0)] == ["5s", "0.5s", "36000s"]


def test_next_step_for_each_kind_of_answer() -> None:
    policy = RetryPolicy((1.0, 2.0), jitter=0.0, throttle_floor=0)
    assert next_step(policy, 1, oc.from_status(204)).action == DONE
    gone = next_step(policy, 1, oc.from_status(410))
    assert (gone.action, gone.dead_reason, gone.disable) == (DEAD, "gone", True)
    blocked = next_step(policy, 1, oc.from_failure(oc.FailureKind.BLOCKED, "loopback"))
    assert (blocked.action, blocked.dead_reason, blocked.disable) == (DEAD, "blocked", False)
    for result in (oc.from_status(500), oc.from_status(302), oc.from_status(404),
                   oc.from_failure(oc.FailureKind.CONNECTION, "refused"), oc.from_failure(oc.FailureKind.TIMEOUT, "t")):
        step = next_step(policy, 2, result)
        assert (step.action, step.delay) == (RETRY, 2.0), result
        assert next_step(policy, 3, result).dead_reason == "exhausted"


def test_each_failed_probe_doubles_the_cooldown_up_to_the_cap_and_a_success_resets_it() -> None:
    breaker = CircuitBreaker(threshold=1, cooldown=10, cooldown_max=35)
    breaker.record_failure(0)
    opened = []
    now = 0.0
    for _ in range(4):
        now = breaker.retry_at()
        assert not breaker.allow(now - 0.1) and breaker.allow(now)  # the probe, exactly at the cool-down
        breaker.record_failure(now)
        opened.append(breaker.retry_at() - now)
    assert opened == [20, 35, 35, 35]
    assert breaker.allow(breaker.retry_at())
    breaker.record_success(now)
    breaker.record_failure(now)
    assert breaker.retry_at() - now == 10  # a fresh outage starts from the base cool-down
    with pytest.raises(ValueError):
        CircuitBreaker(threshold=1, cooldown=10, cooldown_max=5)


def test_a_held_back_request_is_not_an_attempt() -> None:
    """Held back by the breaker: wait for its probe and make the same attempt, even at the last one."""
    policy = RetryPolicy((1.0, 2.0), jitter=0.2, throttle_floor=0, breaker_wait=30)
    rng = random.Random(3)
    for attempt in (1, 3, 50):  # 3 is the last the schedule allows: still no dead letter
        step = next_step(policy, attempt, oc.circuit_open(12.5), rng)
        assert step.action == WAIT and 12.5 <= step.delay <= 12.5 * 1.2, step
    assert next_step(policy, 1, oc.circuit_open(0.0), rng).delay >= 1.0  # never back at once
    assert next_step(policy, 1, oc.circuit_open(None), rng).delay >= 1.0
    assert policy.tiers() == (1.0, 2.0, 30.0)  # held-back alerts wait on a topic of their own
    assert RetryPolicy((), breaker_wait=30).tiers() == (30.0,)  # even with no retries at all


def test_the_settings_policy_takes_the_breaker_cooldown_as_its_wait_tier() -> None:
    assert Settings(breaker_cooldown=45).retry_policy().breaker_wait == 45
    assert Settings(breaker_cooldown=0, webhook_timeout=7).retry_policy().breaker_wait == 7
    assert 30.0 in Settings().retry_policy().tiers()


def test_redirect_is_a_failure() -> None:
    for status in (301, 302, 307, 308):
        result = oc.from_status(status)
        assert not result.delivered and result.retryable and "not followed" in result.error


# --- circuit breaker ----------------------------------------------------------------------------


def test_breaker_opens_after_threshold_consecutive_failures_only() -> None:
    breaker = CircuitBreaker(threshold=3, cooldown=10)
    breaker.record_failure(0)
    breaker.record_failure(0)
    breaker.record_success(0)  # a success resets the count
    breaker.record_failure(1)
    breaker.record_failure(1)
    assert breaker.state == CLOSED and breaker.allow(1)
    breaker.record_failure(2)
    assert breaker.state == OPEN and breaker.retry_at() == 12
    assert not breaker.allow(5) and not breaker.allow(11.9)


def test_breaker_half_open_lets_exactly_one_probe_through() -> None:
    breaker = CircuitBreaker(threshold=1, cooldown=10)
    breaker.record_failure(0)
    assert breaker.allow(10)  # the probe
    assert breaker.state == HALF_OPEN
    assert not breaker.allow(10.1) and not breaker.allow(50)  # others wait for the probe's answer
    breaker.record_success(11)
    assert breaker.state == CLOSED and breaker.allow(11) and breaker.allow(11)


def test_breaker_failed_probe_opens_again_for_a_full_cooldown() -> None:
    breaker = CircuitBreaker(threshold=2, cooldown=10)
    breaker.record_failure(0)
    breaker.record_failure(0)
    assert breaker.allow(10)
    breaker.record_failure(12)  # one failure is enough while half-open
    assert breaker.state == OPEN and not breaker.allow(21) and breaker.allow(22)


def test_breaker_refuses_nonsense_settings() -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(threshold=0, cooldown=1)
    with pytest.raises(ValueError):
        CircuitBreaker(threshold=1, cooldown=-1)
