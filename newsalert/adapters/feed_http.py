"""Fetching feed documents and article pages over HTTP, through the SSRF guard.

One ``FeedFetcher`` per service: a guarded aiohttp session (``newsalert.adapters.http_guard``, the
same guard as webhooks; every redirect hop is connected through it too), a total timeout, a size
cap checked on ``Content-Length`` and again while reading, at most ``max_redirects`` redirects,
and a semaphore bounding the fetches in flight. Conditional GET: the caller passes the ETag and
Last-Modified of its last 200 and gets ``not_modified`` for a 304 (no body read).

A fetch that does not give a usable document raises ``FetchError`` (a ``TransientError``: the
feed is polled again later) with a ``kind`` for metrics: ``timeout``, ``network``, ``blocked``,
``redirects``, ``too_large``, ``http_status`` (and ``retry_after`` for a 429 or 503 that sent one).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp

from newsalert.adapters.http_guard import blocked_reason, guarded_session
from newsalert.config import Settings
from newsalert.domain.feeds.schedule import parse_retry_after
from newsalert.errors import TransientError

_CHUNK = 64 * 1024


class FetchError(TransientError):
    """A fetch that gave no usable document; ``kind`` classifies it, ``status`` is the HTTP status."""

    def __init__(self, kind: str, message: str, status: int | None = None, retry_after: float | None = None) -> None:
        self.kind = kind
        self.status = status
        self.retry_after = retry_after
        super().__init__(message)


@dataclass(frozen=True)
class Fetched:
    """A successful answer: 200 with its body, or 304 (``not_modified``, empty body)."""

    status: int
    body: bytes
    content_type: str
    etag: str | None
    last_modified: str | None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


class FeedFetcher:
    """Guarded, bounded HTTP GETs; create and ``close`` inside the running event loop."""

    def __init__(self, settings: Settings) -> None:
        self._max_bytes = settings.feeds_max_bytes
        self._max_redirects = settings.feeds_max_redirects
        self._slots = asyncio.Semaphore(settings.feeds_concurrency)
        self._session = guarded_session(
            settings, aiohttp.ClientTimeout(total=settings.feeds_timeout),
            headers={"User-Agent": settings.feeds_user_agent}, cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def close(self) -> None:
        await self._session.close()

    async def get(self, url: str, etag: str | None = None, last_modified: str | None = None) -> Fetched:
        """GET ``url`` (conditional when validators are given); ``FetchError`` unless 200 or 304."""
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        async with self._slots:
            try:
                return await self._get(url, headers)
            except FetchError:
                raise
            except asyncio.TimeoutError:
                raise FetchError("timeout", f"no complete answer within the fetch timeout from {url}") from None
            except aiohttp.TooManyRedirects:
                raise FetchError("redirects", f"more than {self._max_redirects} redirects from {url}") from None
            except (aiohttp.ClientError, OSError) as exc:
                reason = blocked_reason(exc)
                if reason:
                    raise FetchError("blocked", reason) from None
                raise FetchError("network", f"{url}: {type(exc).__name__}: {exc}") from None

    async def _get(self, url: str, headers: dict[str, str]) -> Fetched:
        async with self._session.get(url, headers=headers, max_redirects=self._max_redirects) as response:
            if response.status == 304:
                return Fetched(304, b"", "", response.headers.get("ETag"), response.headers.get("Last-Modified"))
            if response.status != 200:
                raise _status_error(url, response)
            body = await self._read(url, response)
            return Fetched(200, body, response.headers.get("Content-Type", ""), response.headers.get("ETag"), response.headers.get("Last-Modified"))

    async def _read(self, url: str, response: aiohttp.ClientResponse) -> bytes:
        """The body, refused as soon as it is known to exceed the size cap."""
        too_large = FetchError("too_large", f"{url} answered more than the limit of {self._max_bytes} bytes")
        if response.content_length is not None and response.content_length > self._max_bytes:
            raise too_large
        chunks, size = [], 0
        async for chunk in response.content.iter_chunked(_CHUNK):
            size += len(chunk)
            if size > self._max_bytes:
                raise too_large
            chunks.append(chunk)
        return b"".join(chunks)


def _status_error(url: str, response: aiohttp.ClientResponse) -> FetchError:
    retry_after = parse_retry_after(response.headers.get("Retry-After")) if response.status in (429, 503) else None
    kind = "retry_after" if retry_after is not None else "http_status"
    hint = f", Retry-After {retry_after:.0f} s" if retry_after is not None else ""
    return FetchError(kind, f"{url} answered HTTP {response.status}{hint}", response.status, retry_after)
