"""The services' health as the Overview shows it: a GET of each configured health URL.

The console does not know where the matcher and the notifier run; ``NEWSALERT_CONSOLE_HEALTH_URLS``
tells it (``name=URL, ...``). The URLs are the operator's settings, not user input, so they are
asked directly (not through the webhooks' SSRF guard), each with a short timeout, all at once.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import aiohttp

CHECK_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class ServiceHealth:
    """One service's answer: up (2xx) or not, and what was seen."""

    name: str
    url: str
    up: bool
    detail: str
    took_ms: float = 0.0


def parse_health_urls(text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """``name=URL`` pairs of the setting, and one problem per entry that is not one."""
    pairs, problems = [], []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        name, sep, url = (piece.strip() for piece in entry.partition("="))
        if not sep or not name or not url.startswith(("http://", "https://")):
            problems.append(f"NEWSALERT_CONSOLE_HEALTH_URLS: {entry!r} is not name=http(s)://...")
            continue
        pairs.append((name, url))
    return pairs, problems


async def check_all(pairs: list[tuple[str, str]]) -> list[ServiceHealth]:
    """Ask every health URL at once."""
    if not pairs:
        return []
    timeout = aiohttp.ClientTimeout(total=CHECK_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout, trust_env=False) as session:
        return list(await asyncio.gather(*(_check(session, name, url) for name, url in pairs)))


async def _check(session: aiohttp.ClientSession, name: str, url: str) -> ServiceHealth:
    started = time.monotonic()
    try:
        async with session.get(url, allow_redirects=False) as answer:
            took = (time.monotonic() - started) * 1000
            return ServiceHealth(name, url, 200 <= answer.status < 300, f"HTTP {answer.status}", took)
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
        return ServiceHealth(name, url, False, f"no answer: {type(exc).__name__} {exc}".strip())
