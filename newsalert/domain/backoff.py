"""Capped exponential backoff with jitter: how long to wait before trying a failed operation again.

Used wherever a service retries I/O in a loop (the broker unreachable, a publish not
acknowledged): the n-th consecutive failure waits ``first * 2**(n-1)`` seconds, at most ``cap``,
times a random factor in ``[1 - jitter, 1]`` so that clients failing together do not come back
together and the cap is never exceeded. Pure: the caller passes the random source.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Delays of a retry loop; see the module docstring."""

    first: float
    cap: float
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.first <= self.cap:
            raise ValueError(f"backoff needs 0 < first ({self.first}) <= cap ({self.cap})")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"backoff jitter must be in [0, 1), got {self.jitter}")

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after ``failures`` consecutive failures (1 = the first one)."""
        exponent = min(max(failures, 1) - 1, 62)  # 2**62 seconds is past any cap
        base = min(self.cap, self.first * 2.0**exponent)
        return base * (1 - self.jitter * (rng or random).random())
