"""Fixtures for whole-pipeline tests: a real webhook receiver on 127.0.0.1 and the services as
real child processes (``newsalert serve ...``) on the real local broker, with a unique topic prefix.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from newsalert.adapters.processes import ServiceProcess, free_port, newsalert_executable

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Received:
    """One POST as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def payload(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A real aiohttp webhook receiver in a background thread; records every request."""

    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    status: int = 204
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        challenge = _challenge_of(body)
        if challenge is not None:
            # The subscription API's intent verification: echo it, as a willing endpoint does.
            return web.json_response({"challenge": challenge})
        with self._lock:
            self.received.append(Received(request.path, dict(request.headers), body, time.time()))
        return web.Response(status=self.status)

    def url(self, subscriber: str) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/{subscriber}"

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def webhook_ids(self) -> Counter:
        return Counter(r.headers.get("webhook-id") for r in self.snapshot())

    def wait_for_ids(self, expected: set[str], timeout: float) -> set[str]:
        """Wait until every id in ``expected`` arrived; return the ids still missing."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            missing = expected - set(self.webhook_ids())
            if not missing:
                return set()
            time.sleep(0.25)
        return expected - set(self.webhook_ids())


def _challenge_of(body: bytes) -> str | None:
    """The challenge of a subscription-verification request, or None for any other body."""
    try:
        item = json.loads(body)
    except ValueError:
        return None
    if isinstance(item, dict) and item.get("type") == "subscription.verification":
        return item.get("challenge")
    return None


@pytest.fixture
def receiver():
    """A running ``Receiver`` on a free loopback port, stopped after the test."""
    rec = Receiver()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    runner_box: dict = {}

    async def serve() -> None:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_post("/{tail:.*}", rec._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", rec.port).start()
        runner_box["runner"] = runner
        started.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(serve()), loop.run_forever()), daemon=True)
    thread.start()
    assert started.wait(10), "the test receiver did not start"
    yield rec
    asyncio.run_coroutine_threadsafe(runner_box["runner"].cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


@dataclass
class Pipeline:
    """Services of one test run: all share the topic prefix and environment."""

    env: dict[str, str]
    log_dir: Path
    services: dict[str, ServiceProcess] = field(default_factory=dict)

    def cli(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
        import os

        result = subprocess.run(
            [newsalert_executable(), *args], capture_output=True, text=True,
            env={**os.environ, **self.env}, cwd=REPO, timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"newsalert {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def start(self, name: str, *args: str, instance: str = "") -> ServiceProcess:
        """Start ``newsalert serve NAME ARGS`` on a free port and wait for its /healthz."""
        port = free_port()
        key = f"{name}{instance}"
        service = ServiceProcess(
            key, [newsalert_executable(), "serve", name, *args, "--port", str(port)],
            self.log_dir / f"{key}.log", env=self.env, health_url=f"http://127.0.0.1:{port}/healthz", cwd=REPO,
        )
        self.services[key] = service.start()
        service.wait_healthy(timeout=90)
        return service

    def stop_all(self) -> None:
        for service in self.services.values():
            service.stop()


@pytest.fixture
def pipeline(kafka_bootstrap, topic_prefix, tmp_path):
    """A ``Pipeline`` whose services use this test's topic prefix; stopped after the test."""
    env = {
        "NEWSALERT_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "NEWSALERT_TOPIC_PREFIX": topic_prefix,
        "NEWSALERT_ALLOW_PRIVATE_TARGETS": "true",
        # Pipeline tests compare deliveries with the per-article offline match, which knows
        # nothing of copies of a story (the BBC corpus has 120); de-duplication is tested on its
        # own in test_dedup.py. A test may set the window back in pipe.env.
        "NEWSALERT_DEDUP_WINDOW": "0",
    }
    pipe = Pipeline(env=env, log_dir=tmp_path / "logs")
    pipe.cli("topics", "create")
    yield pipe
    pipe.stop_all()
    for service in pipe.services.values():
        print(f"--- {service.name} log tail ---\n{service.log_tail(15)}")


def expected_alerts(pipe: Pipeline, rules: Path, *articles: Path) -> dict[tuple[str, str], list[str]]:
    """(article id, rule id) -> subscribers, as the offline ``newsalert match`` computes it."""
    result = pipe.cli("match", "--rules", str(rules), *map(str, articles), check=False)
    assert result.returncode in (0, 1), result.stderr
    out: dict[tuple[str, str], list[str]] = {}
    for line in result.stdout.splitlines():
        item = json.loads(line)
        out[(item["article_id"], item["rule_id"])] = item["notify"]
    return out
