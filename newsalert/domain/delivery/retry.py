"""When to try a failed delivery again: the retry schedule as data, with jitter and clamps.

``RetryPolicy`` holds the delays (``NEWSALERT_RETRY_SCHEDULE``; the default table is in
``docs/webhooks.md``): jitter on each delay, ``Retry-After`` clamped between the delay and twice
it, a throttle floor after a timeout or 429. 2xx succeeds; 410 and an SSRF refusal are final;
everything else is retried. A request held back by the circuit breaker is not an attempt (it
``WAIT``s). ``tiers`` groups the delays into the notifier's retry topics.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from dataclasses import dataclass

from newsalert.domain.delivery.outcome import CIRCUIT_OPEN, GONE, TIMEOUT, AttemptOutcome

DEFAULT_SCHEDULE = "5,300,1800,7200,18000,36000,36000"
"""The default ``NEWSALERT_RETRY_SCHEDULE``: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h."""
DEFAULT_THROTTLE_FLOOR = 60.0
"""Least delay after a timeout or a 429, in seconds."""

_MAX_DELAY_S = 7 * 24 * 3600.0  # a week: beyond it a retry is pointless and likely a typo
_LEAST_WAIT_S = 1.0  # a held-back alert never comes back sooner (the probe may still be out)
_MAX_RETRIES = 50  # the dead letter carries every attempt; keep that record bounded


def parse_delays(text: str) -> tuple[float, ...]:
    """``"1, 4, 10"`` -> ``(1.0, 4.0, 10.0)``; an empty string means no retries.

    Raises ``ValueError`` naming the bad item for a non-number, a negative delay, a delay above a
    week or more than 50 delays.
    """
    delays = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            value = float(item)
        except ValueError:
            raise ValueError(f"retry delay {item!r} is not a number of seconds") from None
        if value < 0 or value != value:  # NaN is not a delay either
            raise ValueError(f"retry delay {item!r} must be zero or more seconds")
        if value > _MAX_DELAY_S:
            raise ValueError(f"retry delay {item!r} is more than a week")
        delays.append(value)
    if len(delays) > _MAX_RETRIES:
        raise ValueError(f"a retry schedule has at most {_MAX_RETRIES} delays, got {len(delays)}")
    return tuple(delays)


@dataclass(frozen=True)
class RetryPolicy:
    """Delays between attempts (see the module docstring); ``throttle_floor`` is the least delay
    after a timeout or a 429 (0 = no floor)."""

    delays: tuple[float, ...]
    jitter: float = 0.2
    throttle_floor: float = 0.0
    breaker_wait: float = 0.0  # the breaker's cool-down: the tier of alerts it holds back (0 = none)

    def __post_init__(self) -> None:
        if not 0 <= self.jitter < 1:
            raise ValueError(f"jitter must be in [0, 1), got {self.jitter}")
        if self.throttle_floor < 0:
            raise ValueError(f"throttle floor must be zero or more, got {self.throttle_floor}")

    @classmethod
    def from_text(cls, schedule: str, jitter: float = 0.2, throttle_floor: float = DEFAULT_THROTTLE_FLOOR,
                  breaker_wait: float = 0.0) -> RetryPolicy:
        """The policy of a ``NEWSALERT_RETRY_SCHEDULE`` value."""
        return cls(parse_delays(schedule), jitter, throttle_floor, breaker_wait)

    @property
    def max_attempts(self) -> int:
        """Attempts in all: the first one plus one per delay."""
        return len(self.delays) + 1

    def next_delay(self, attempt: int, result: AttemptOutcome, rng: random.Random | None = None) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``, or None when there is none.

        ``attempt`` is the number (1-based) of the attempt that produced ``result``. None for a
        success, a final failure and when the schedule is used up.
        """
        if not result.retryable or attempt < 1 or attempt > len(self.delays):
            return None
        scheduled = self.delays[attempt - 1]
        factor = 1.0 + (rng or random).uniform(-self.jitter, self.jitter)
        delay = scheduled * factor
        if result.retry_after is not None:
            delay = min(max(result.retry_after, scheduled), 2 * scheduled)
        if result.outcome == TIMEOUT or result.status == 429:
            delay = max(delay, self.throttle_floor)
        return delay

    def wait_delay(self, wait: float | None, rng: random.Random | None = None) -> float:
        """Seconds an alert held back by its endpoint's breaker waits: until the breaker lets a
        probe through (``wait``), at least ``_LEAST_WAIT_S``, stretched by up to ``jitter``."""
        return max(wait or 0.0, _LEAST_WAIT_S) * (1.0 + self.jitter * (rng or random).random())

    def tiers(self) -> tuple[float, ...]:
        """The distinct delays a retry can get, ascending: the schedule's, the throttle floor and
        the breaker's wait (held-back alerts wait on a topic of their own, so a cool-down never
        sits in front of shorter retries).

        One retry topic per tier keeps the records of a topic close to due-time order.
        """
        values = set(self.delays)
        if self.throttle_floor > 0 and self.delays:
            values.add(self.throttle_floor)
        if self.breaker_wait > 0:
            values.add(self.breaker_wait)
        return tuple(sorted(values))


def tier_for(delay: float, tiers: tuple[float, ...]) -> float:
    """The tier a retry waiting ``delay`` seconds goes to: the largest tier not above it
    (the smallest tier for a delay below all, as jitter can make it)."""
    if not tiers:
        raise ValueError("no retry tiers: the schedule is empty")
    index = bisect_right(tiers, delay) - 1
    return tiers[max(index, 0)]


def tier_name(tier: float) -> str:
    """``5.0`` -> ``"5s"``, ``0.5`` -> ``"0.5s"``: the suffix of the tier's retry topic."""
    return f"{tier:g}s"


DONE = "done"
RETRY = "retry"
DEAD = "dead"
WAIT = "wait"  # held back by the circuit breaker: the same attempt, later


@dataclass(frozen=True)
class NextStep:
    """What follows an attempt: ``done`` (delivered), ``retry`` after ``delay`` seconds, ``wait``
    ``delay`` seconds for the breaker and make the same attempt again, or ``dead`` for
    ``dead_reason``; ``disable`` when the subscriber must get no further attempts."""

    action: str
    delay: float | None = None
    dead_reason: str | None = None
    disable: bool = False


def next_step(policy: RetryPolicy, attempt: int, result: AttemptOutcome, rng: random.Random | None = None) -> NextStep:
    """The decision after attempt number ``attempt`` came to ``result``."""
    if result.delivered:
        return NextStep(DONE)
    if result.outcome == GONE:
        return NextStep(DEAD, dead_reason="gone", disable=True)
    if result.outcome == CIRCUIT_OPEN:  # not sent: never counts against the schedule
        return NextStep(WAIT, delay=policy.wait_delay(result.retry_after, rng))
    if not result.retryable:
        return NextStep(DEAD, dead_reason="blocked")
    delay = policy.next_delay(attempt, result, rng)
    if delay is None:
        return NextStep(DEAD, dead_reason="exhausted")
    return NextStep(RETRY, delay=delay)
