"""Polling an async condition until it holds, with a clear message when it does not."""

from __future__ import annotations

import asyncio
import time


async def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)
