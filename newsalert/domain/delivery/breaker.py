"""A circuit breaker per endpoint: stop sending to an endpoint that keeps failing, probe it later.

States (pure: the caller passes the clock):

- ``closed``: requests go through; ``threshold`` consecutive failures open the breaker;
- ``open``: no request goes through until the cool-down has passed since it opened;
- ``half_open``: the cool-down is over; exactly one request (the probe) is let through; its
  success closes the breaker, its failure opens it again for twice the last cool-down, at most
  ``cooldown_max`` (capped exponential: an endpoint down for hours is probed, and its queued
  alerts woken, ever less often). While the probe is out, other requests are refused.

The cool-down starts again from ``cooldown`` whenever the breaker closes. A refused request is
not sent at all: the notifier records a ``circuit_open`` wait and the alert makes the same attempt
after the probe (it is not an attempt; see ``newsalert.domain.delivery.retry``).
"""

from __future__ import annotations

from dataclasses import dataclass

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"


@dataclass
class CircuitBreaker:
    """One endpoint's breaker; see the module docstring."""

    threshold: int
    cooldown: float
    cooldown_max: float | None = None  # None: the cool-down never grows
    state: str = CLOSED
    failures: int = 0
    opened_at: float = 0.0
    probing: bool = False
    current: float = -1.0  # the cool-down of the present opening (set from ``cooldown``)

    def __post_init__(self) -> None:
        if self.threshold < 1:
            raise ValueError(f"breaker threshold must be at least 1, got {self.threshold}")
        if self.cooldown < 0:
            raise ValueError(f"breaker cool-down must be zero or more seconds, got {self.cooldown}")
        if self.cooldown_max is not None and self.cooldown_max < self.cooldown:
            raise ValueError(f"breaker cool-down cap {self.cooldown_max} is below the cool-down {self.cooldown}")
        if self.current < 0:
            self.current = self.cooldown

    def allow(self, now: float) -> bool:
        """May a request go out at ``now``? Taking the half-open probe slot counts as going out."""
        if self.state == CLOSED:
            return True
        if self.state == OPEN:
            if now - self.opened_at < self.current:
                return False
            self.state = HALF_OPEN
            self.probing = False
        if self.probing:
            return False
        self.probing = True
        return True

    def record_success(self, now: float) -> None:
        """A request that went out succeeded: close."""
        self.state = CLOSED
        self.failures = 0
        self.probing = False
        self.current = self.cooldown

    def record_failure(self, now: float) -> None:
        """A request that went out failed: count it; open at the threshold or when probing."""
        self.failures += 1
        if self.state == HALF_OPEN:  # the probe failed: wait longer before the next one
            self.current = min(self.current * 2, self.cooldown_max if self.cooldown_max is not None else self.current)
        if self.state == HALF_OPEN or self.failures >= self.threshold:
            self.state = OPEN
            self.opened_at = now
            self.probing = False

    def retry_at(self) -> float | None:
        """When an open breaker lets a probe through; None unless open."""
        return self.opened_at + self.current if self.state == OPEN else None
