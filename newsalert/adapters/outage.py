"""Reporting an outage of something a service depends on (the broker, an endpoint) in a few lines.

A retry loop calls ``failed`` on every failed try and ``succeeded`` when one works. Instead of a
line per retry, the log gets: one WARNING when the dependency becomes unreachable, one WARNING
summary per ``interval`` seconds while it stays so (failed tries, library lines held back, last
error), and one WARNING when it is reachable again, with the outage's length.
"""

from __future__ import annotations

import logging
import time
from typing import Callable


class OutageReport:
    """The state (up or down) of one dependency and its outage log lines; see the module docstring."""

    def __init__(self, what: str, logger: logging.Logger, interval: float = 60.0,
                 clock: Callable[[], float] = time.monotonic, down: str = "unreachable", up: str = "reachable again") -> None:
        self.what = what
        self._down_word, self._up_word = down, up
        self._log = logger
        self._interval = interval
        self._clock = clock
        self.down_since: float | None = None
        self._last_line = 0.0
        self.failures = 0  # failed tries in the current outage
        self.held_back = 0  # library log lines held back since the last line
        self._last_error = ""

    @property
    def down(self) -> bool:
        """True between the first failure and the next success."""
        return self.down_since is not None

    def failed(self, error: str) -> None:
        """One failed try: a WARNING if this starts an outage or a summary is due, else nothing."""
        now = self._clock()
        self.failures += 1
        self._last_error = error
        if self.down_since is None:
            self.down_since = self._last_line = now
            self._log.warning("%s %s: %s; retrying with backoff, a summary every %.0f s until it is back",
                              self.what, self._down_word, error, self._interval)
        elif now - self._last_line >= self._interval:
            self._last_line = now
            self._log.warning("%s still %s after %.0f s: %d failed tries, %d library log line(s) held back; last error: %s",
                              self.what, self._down_word, now - self.down_since, self.failures, self.held_back, error)
            self.held_back = 0

    def succeeded(self) -> None:
        """A try worked: a WARNING closing the outage if there was one."""
        if self.down_since is None:
            return
        self._log.warning("%s %s after %.1f s (%d failed tries, %d library log line(s) held back)",
                          self.what, self._up_word, self._clock() - self.down_since, self.failures, self.held_back)
        self.down_since = None
        self.failures = self.held_back = 0

    def hold_back(self) -> bool:
        """Whether a library's log line about this dependency should be dropped (counted) now."""
        if self.down_since is None:
            return False
        self.held_back += 1
        return True
