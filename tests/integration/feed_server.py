"""A real HTTP server on 127.0.0.1 serving feed documents the way publishers do (ETag,
Last-Modified, 304) and the ways they fail (500, slow, redirect loop, huge, 429 + Retry-After)."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field

from aiohttp import web

from newsalert.adapters.processes import free_port

LAST_MODIFIED = "Mon, 30 Nov 2026 08:00:00 GMT"


@dataclass
class Route:
    """What one path answers; ``failures`` answers ``fail_status`` that many times first."""

    body: bytes = b""
    content_type: str = "application/rss+xml"
    fail_status: int = 500
    failures: int = 0
    retry_after: str | None = None
    delay: float = 0.0
    redirect_to: str | None = None
    requests: list[dict] = field(default_factory=list)


class FeedServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.routes: dict[str, Route] = {}
        self.in_flight = 0
        self.most_in_flight = 0  # the most requests this server was answering at once
        app = web.Application()
        app.router.add_get("/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=1)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    async def start(self) -> "FeedServer":
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def close(self) -> None:
        await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        route = self.routes.get(request.match_info["path"])
        if route is None:
            return web.Response(status=404)
        route.requests.append(dict(request.headers))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if route.delay:
                await asyncio.sleep(route.delay)
        finally:
            self.in_flight -= 1
        if route.redirect_to:
            raise web.HTTPFound(self.url(route.redirect_to))
        if route.failures > 0:
            route.failures -= 1
            headers = {"Retry-After": route.retry_after} if route.retry_after else {}
            return web.Response(status=route.fail_status, text="unavailable", headers=headers)
        etag = '"' + hashlib.sha256(route.body).hexdigest()[:16] + '"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=route.body, headers={"Content-Type": route.content_type, "ETag": etag, "Last-Modified": LAST_MODIFIED})
