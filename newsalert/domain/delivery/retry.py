"""When to try a failed delivery again: a retry schedule as data, with jitter.

A ``RetryPolicy`` is a list of delays: ``delays[0]`` is waited after the first failed attempt,
``delays[1]`` after the second, and so on; when the list is used up the alert is given up. Each
delay gets a random factor in ``[1 - jitter, 1 + jitter]`` so that many alerts failing together
do not come back together. A ``Retry-After`` hint is honoured but clamped between the scheduled
delay and twice it, so a receiver can slow us down without stalling delivery indefinitely.

The notifier of the pipeline issue uses a short schedule in process; the delivery issue runs the
same policy with a long schedule through retry topics.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from newsalert.domain.delivery.outcome import RATE_LIMITED, TIMEOUT, AttemptOutcome


def parse_delays(text: str) -> tuple[float, ...]:
    """``"1, 4, 10"`` -> ``(1.0, 4.0, 10.0)``; an empty string means no retries.

    Raises ``ValueError`` naming the bad item for a non-number or a negative delay.
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
        delays.append(value)
    return tuple(delays)


@dataclass(frozen=True)
class RetryPolicy:
    """Delays between attempts (see the module docstring); ``throttle_floor`` is the least delay
    after a timeout or a rate limit (0 = no floor)."""

    delays: tuple[float, ...]
    jitter: float = 0.2
    throttle_floor: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.jitter < 1:
            raise ValueError(f"jitter must be in [0, 1), got {self.jitter}")

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
        if result.outcome in (RATE_LIMITED, TIMEOUT):
            delay = max(delay, self.throttle_floor)
        return delay
