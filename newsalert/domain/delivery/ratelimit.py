"""Per-subscriber rate limits and digests: which alerts go out alone, which wait for a digest.

Pure (the caller passes the time). ``max_per_minute`` alerts a calendar minute go out alone; the
others are held, never dropped, in the subscriber's open digest, which every later alert joins
until its window (``digest``) ends or it holds ``DIGEST_ALERTS_MAX`` alerts, so a subscriber never
gets a newer alert before an older held one. The policy for users is in the README
("Rate limits and digests").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Generic, TypeVar

from newsalert.schemas.formats import (  # noqa: F401 - re-exported: the policy's limits
    DIGEST_ALERTS_MAX,
    DURATION_MAX_S,
    DURATION_MIN_S,
    MAX_PER_MINUTE_MAX,
    parse_duration,
)

DEFAULT_DIGEST_S = 60
"""Digest window when only ``max_per_minute`` is given."""

T = TypeVar("T")


@dataclass(frozen=True)
class RateLimit:
    """One subscriber's limit: single alerts per minute (None: no singles) and the digest window."""

    max_per_minute: int | None
    digest_s: int

    @classmethod
    def of(cls, max_per_minute: int | None, digest_s: int | None) -> RateLimit | None:
        """The limit of a subscriber's settings; None when it has neither (no limit)."""
        if max_per_minute is None and digest_s is None:
            return None
        return cls(max_per_minute, digest_s if digest_s is not None else DEFAULT_DIGEST_S)


@dataclass
class Digest(Generic[T]):
    """One subscriber's open digest: held items and the window they are sent at the end of."""

    subscriber: str
    start: int
    end: int
    items: list[T] = field(default_factory=list)


SEND = "send"
HOLD = "hold"


class RateLimiter(Generic[T]):
    """Minute counters and open digests of every subscriber; see the module docstring."""

    def __init__(self) -> None:
        self._minutes: dict[str, tuple[int, int]] = {}  # subscriber -> (minute number, singles sent)
        self._open: dict[str, Digest[T]] = {}

    def route(self, subscriber: str, limit: RateLimit | None, item: T, now: float) -> str:
        """``SEND`` the alert alone, or ``HOLD`` it (added to the subscriber's digest)."""
        if limit is None:
            return SEND
        digest = self._open.get(subscriber)
        if digest is None and limit.max_per_minute is not None and self._admit(subscriber, limit.max_per_minute, now):
            return SEND
        if digest is None:
            start = math.floor(now)
            digest = self._open[subscriber] = Digest(subscriber, start, start + limit.digest_s)
        digest.items.append(item)
        return HOLD

    def _admit(self, subscriber: str, per_minute: int, now: float) -> bool:
        """Count one single in the current calendar minute, if there is room for it."""
        minute = math.floor(now // 60)
        seen_minute, sent = self._minutes.get(subscriber, (minute, 0))
        if seen_minute != minute:
            sent = 0
        if sent >= per_minute:
            return False
        self._minutes[subscriber] = (minute, sent + 1)
        return True

    def due(self, now: float, held_cap: int) -> list[Digest[T]]:
        """Digests to send now (removed from the open ones): window over, full, or the fullest
        while more than ``held_cap`` items are held over all subscribers."""
        ready = [d for d in self._open.values() if d.end <= now or len(d.items) >= DIGEST_ALERTS_MAX]
        for digest in ready:
            del self._open[digest.subscriber]
        held = self.held()
        for digest in sorted(self._open.values(), key=lambda d: len(d.items), reverse=True):
            if held <= held_cap:
                break
            del self._open[digest.subscriber]
            ready.append(digest)
            held -= len(digest.items)
        return ready

    def held(self) -> int:
        """Items held in open digests, over all subscribers."""
        return sum(len(d.items) for d in self._open.values())

    def open_digest(self, subscriber: str) -> Digest[T] | None:
        """The subscriber's open digest, if any (read only)."""
        return self._open.get(subscriber)

    def drop(self, unwanted: Callable[[T], bool]) -> list[T]:
        """Remove and return held items for which ``unwanted`` is true (a digest left empty closes)."""
        removed: list[T] = []
        for subscriber, digest in list(self._open.items()):
            keep = [item for item in digest.items if not unwanted(item)]
            removed.extend(item for item in digest.items if unwanted(item))
            digest.items = keep
            if not keep:
                del self._open[subscriber]
        return removed
