"""A scripted webhook receiver on 127.0.0.1 shared by the delivery tests, and per-subscriber secrets.

Each subscriber's path answers from its own script of statuses, headers and delays, so a test can
make one subscriber fail while others succeed, and every request is recorded as a ``Hit``.
"""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import dataclass, field

from aiohttp import web
from pydantic import SecretStr

from newsalert.adapters.processes import free_port
from newsalert.domain.delivery.endpoints import Endpoint


@dataclass
class Answer:
    """One scripted answer: status, headers, and a delay before answering."""

    status: int = 204
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Hit:
    """One request the receiver answered."""

    subscriber: str
    webhook_id: str
    status: int
    at: float
    headers: dict[str, str]


@dataclass
class ScriptedReceiver:
    """A webhook receiver on 127.0.0.1: per subscriber, a script of answers, then a default one."""

    port: int = field(default_factory=free_port)
    scripts: dict[str, list[Answer]] = field(default_factory=dict)
    default: dict[str, Answer] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    other_paths: list[str] = field(default_factory=list)
    runner: web.AppRunner | None = None

    async def _hook(self, request: web.Request) -> web.StreamResponse:
        subscriber = request.match_info["subscriber"]
        await request.read()
        script = self.scripts.get(subscriber)
        answer = script.pop(0) if script else self.default.get(subscriber, Answer())
        self.hits.append(Hit(subscriber, request.headers.get("webhook-id", ""), answer.status, time.monotonic(), dict(request.headers)))
        if answer.delay:
            await asyncio.sleep(answer.delay)
        return web.Response(status=answer.status, headers=answer.headers, text="scripted")

    async def _other(self, request: web.Request) -> web.Response:
        self.other_paths.append(request.path)
        return web.Response(status=200)

    async def start(self) -> ScriptedReceiver:
        app = web.Application()
        app.router.add_post("/hooks/{subscriber}", self._hook)
        app.router.add_route("*", "/elsewhere", self._other)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def close(self) -> None:
        await self.runner.cleanup()

    def url(self, subscriber: str) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/{subscriber}"

    def delivered(self, subscriber: str | None = None) -> set[str]:
        return {h.webhook_id for h in self.hits if 200 <= h.status < 300 and subscriber in (None, h.subscriber)}

    def of(self, subscriber: str) -> list[Hit]:
        return [h for h in self.hits if h.subscriber == subscriber]

    async def wait_delivered(self, ids: set[str], timeout: float) -> set[str]:
        """Wait until every id in ``ids`` got a 2xx; return the ids still missing."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not ids <= self.delivered():
            await asyncio.sleep(0.1)
        return ids - self.delivered()


def secret_of(name: str) -> str:
    """A valid Standard Webhooks secret per subscriber name (32 bytes of key)."""
    return "whsec_" + base64.b64encode(name.encode().ljust(32, b"#")[:32]).decode()


def endpoints(receiver: ScriptedReceiver, *names: str) -> dict[str, Endpoint]:
    return {n: Endpoint(n, receiver.url(n), (SecretStr(secret_of(n)),)) for n in names}
