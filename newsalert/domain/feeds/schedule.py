"""When to poll a feed next: its interval with jitter, backoff after errors, ``Retry-After``.

Pure: the caller passes the random number. After a success the next poll is ``interval`` times a
factor in ``[1 - jitter, 1 + jitter]`` (feeds polled on one schedule spread out). After the n-th
consecutive failure it is ``interval * 2**(n-1)`` with the same jitter, capped at ``backoff_max``;
a ``Retry-After`` from the server (429, 503) is a lower bound, itself capped at ``retry_after_max``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class PollSchedule:
    """The polling policy (from the settings)."""

    jitter: float
    backoff_max: float
    retry_after_max: float

    def next_delay(self, interval: float, failures: int, rand: float, retry_after: float | None = None) -> float:
        """Seconds until the next poll; ``rand`` in [0, 1); ``failures`` consecutive so far."""
        factor = 1.0 + self.jitter * (2.0 * rand - 1.0)
        if failures <= 0:
            return interval * factor
        delay = min(self.backoff_max, interval * 2.0 ** min(failures - 1, 30)) * factor
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.retry_after_max))
        return delay


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds of a ``Retry-After`` header (delta-seconds or an HTTP date); None if unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())
