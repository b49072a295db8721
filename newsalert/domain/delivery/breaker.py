"""A circuit breaker per endpoint: stop sending to an endpoint that keeps failing, probe it later.

States (pure: the caller passes the clock):

- ``closed``: requests go through; ``threshold`` consecutive failures open the breaker;
- ``open``: no request goes through until ``cooldown`` seconds after it opened;
- ``half_open``: the cool-down is over; exactly one request (the probe) is let through; its
  success closes the breaker, its failure opens it again for another cool-down. While the probe
  is out, other requests are refused.

A refused request is not sent at all: the notifier records it as a ``circuit_open`` attempt and
schedules its retry like any failure, so an alert's life stays bounded by the retry schedule.
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
    state: str = CLOSED
    failures: int = 0
    opened_at: float = 0.0
    probing: bool = False

    def __post_init__(self) -> None:
        if self.threshold < 1:
            raise ValueError(f"breaker threshold must be at least 1, got {self.threshold}")
        if self.cooldown < 0:
            raise ValueError(f"breaker cool-down must be zero or more seconds, got {self.cooldown}")

    def allow(self, now: float) -> bool:
        """May a request go out at ``now``? Taking the half-open probe slot counts as going out."""
        if self.state == CLOSED:
            return True
        if self.state == OPEN:
            if now - self.opened_at < self.cooldown:
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

    def record_failure(self, now: float) -> None:
        """A request that went out failed: count it; open at the threshold or when probing."""
        self.failures += 1
        if self.state == HALF_OPEN or self.failures >= self.threshold:
            self.state = OPEN
            self.opened_at = now
            self.probing = False

    def retry_at(self) -> float | None:
        """When an open breaker lets a probe through; None unless open."""
        return self.opened_at + self.cooldown if self.state == OPEN else None
