"""The ingest service over real HTTP on 127.0.0.1 against the real broker: what is accepted
reaches the articles topic cleaned, what is refused is refused precisely and publishes nothing."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from newsalert.adapters.processes import free_port, newsalert_executable
from newsalert.config import Settings
from newsalert.services.ingest.app import build_app

from .topic_reader import read_topic, values

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]

MAX_BODY = 64 * 1024
MAX_BATCH = 5
DEBRIS_BODY = 'North Korea fired missiles.< /p>\n\n< p class="x">AT&amp;T  said   nothing.'


class IngestServer:
    """An ingest app served on a free 127.0.0.1 port, with a client session."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.runner = web.AppRunner(build_app(settings), shutdown_timeout=5)
        self.session: aiohttp.ClientSession | None = None

    async def start(self) -> "IngestServer":
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=40))
        return self

    async def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            async with self.session.get(f"{self.url}/readyz") as resp:
                if resp.status == 200:
                    return
            await asyncio.sleep(0.2)
        raise AssertionError(f"ingest not ready within {timeout} s")

    async def post(self, data, content_type: str = "application/json", **kwargs) -> tuple[int, dict]:
        body = json.dumps(data) if not isinstance(data, (str, bytes)) and not hasattr(data, "__aiter__") else data
        async with self.session.post(f"{self.url}/articles", data=body, headers={"Content-Type": content_type}, **kwargs) as resp:
            return resp.status, await resp.json()

    async def get(self, path: str) -> tuple[int, dict]:
        async with self.session.get(f"{self.url}{path}") as resp:
            return resp.status, await resp.json()

    async def close(self) -> None:
        if self.session:
            await self.session.close()
        await self.runner.cleanup()


def _settings(bootstrap: str, prefix: str) -> Settings:
    return Settings(kafka_bootstrap=bootstrap, topic_prefix=prefix, ingest_max_body_bytes=MAX_BODY, ingest_max_batch=MAX_BATCH)


@pytest.fixture
async def ingest(kafka_bootstrap: str, topic_prefix: str):
    server = await IngestServer(_settings(kafka_bootstrap, topic_prefix)).start()
    try:
        await server.wait_ready()
        yield server
    finally:
        await server.close()


async def test_single_array_and_ndjson_are_published_cleaned(ingest: IngestServer):
    status, answer = await ingest.post({"id": "one", "title": "AT&amp;T  <b>buys</b>", "body": DEBRIS_BODY})
    assert (status, answer) == (202, {"accepted": ["one"], "rejected": []})

    status, answer = await ingest.post([{"id": "arr-1"}, {"id": "arr-2", "title": "x"}])
    assert (status, answer["accepted"]) == (202, ["arr-1", "arr-2"])

    ndjson = '{"id": "nd-1"}\n\n{"id": "nd-2"}\n'
    status, answer = await ingest.post(ndjson, "application/x-ndjson")
    assert (status, answer["accepted"]) == (202, ["nd-1", "nd-2"])
    # Several lines of objects without the NDJSON content type are NDJSON too.
    status, answer = await ingest.post('{"id": "nd-3"}\n{"id": "nd-4"}', "application/json")
    assert (status, answer["accepted"]) == (202, ["nd-3", "nd-4"])

    records = await read_topic(ingest.settings.kafka_bootstrap, ingest.settings.topic("articles"), 7)
    by_id = {r.key.decode(): json.loads(r.value) for r in records}
    assert sorted(by_id) == sorted(["one", "arr-1", "arr-2", "nd-1", "nd-2", "nd-3", "nd-4"])
    assert len(records) == 7
    one = by_id["one"]
    assert one["title"] == "AT&T buys"
    assert one["body"] == "North Korea fired missiles.\n\nAT&T said nothing."


async def test_refused_requests_name_the_problem_and_publish_nothing(ingest: IngestServer):
    status, answer = await ingest.post('{"id": "a",\n "title": }')
    assert status == 400 and (answer["line"], answer["column"]) == (2, 11), answer
    assert "line 2" in answer["error"]

    status, answer = await ingest.post('{"id": "b"}\n{"id": oops}\n', "application/x-ndjson")
    assert status == 400 and answer["line"] == 2, answer

    status, answer = await ingest.post(b'{"id": "\xff"}')
    assert status == 400 and "UTF-8" in answer["error"]

    status, answer = await ingest.post("")
    assert status == 400 and "empty" in answer["error"]

    status, answer = await ingest.post([{"id": f"m{i}"} for i in range(MAX_BATCH + 1)])
    assert status == 413 and str(MAX_BATCH) in answer["error"]

    big = [{"id": "big", "body": "x" * MAX_BODY}]
    status, answer = await ingest.post(big)  # refused on Content-Length, before reading
    assert status == 413 and answer["max_bytes"] == MAX_BODY

    async def chunked():  # no Content-Length: refused while reading
        yield b'[{"id": "chunked", "body": "'
        for _ in range(20):
            yield b"y" * 8192
        yield b'"}]'

    status, answer = await ingest.post(chunked())
    assert status == 413

    # Then one good request: the topic holds it alone.
    status, _ = await ingest.post({"id": "after"})
    assert status == 202
    records = await read_topic(ingest.settings.kafka_bootstrap, ingest.settings.topic("articles"), 1, settle=2.0)
    assert [r.key for r in records] == [b"after"]


async def test_partially_invalid_batch_accepts_the_valid_and_dead_letters_the_rest(ingest: IngestServer):
    body = '[\n{"id": "ok-1"},\n{"id": "bad-1", "title": 42},\n{"id": "ok-2", "published": "2024-01-02T03:04:05Z"},\n{"title": "no id"}\n]'
    status, answer = await ingest.post(body)
    assert status == 202, answer
    assert answer["accepted"] == ["ok-1", "ok-2"]
    assert answer["rejected"] == [
        {"index": 1, "line": 3, "id": "bad-1", "errors": [{"field": "title", "message": "Input should be a valid string"}]},
        {"index": 3, "line": 5, "id": None, "errors": [{"field": "id", "message": "Field required"}]},
    ]
    settings = ingest.settings
    articles = await read_topic(settings.kafka_bootstrap, settings.topic("articles"), 2)
    assert sorted(r.key for r in articles) == [b"ok-1", b"ok-2"]
    letters = values(await read_topic(settings.kafka_bootstrap, settings.topic("articles.rejected"), 2))
    assert len(letters) == 2
    bad = next(letter for letter in letters if letter["record_id"] == "bad-1")
    assert bad["stage"] == "ingest"
    assert "item 1 (line 3)" in bad["reason"] and "title" in bad["reason"]
    assert json.loads(bad["payload"]) == {"id": "bad-1", "title": 42}


async def test_wholly_invalid_batch_is_422_and_dead_lettered(ingest: IngestServer):
    status, answer = await ingest.post('{"id": "x1", "language": "not a tag!"}\n{"id": ""}\n', "application/x-ndjson")
    assert status == 422, answer
    assert answer["accepted"] == []
    assert [(r["index"], r["line"], r["errors"][0]["field"]) for r in answer["rejected"]] == [(0, 1, "language"), (1, 2, "id")]
    settings = ingest.settings
    letters = values(await read_topic(settings.kafka_bootstrap, settings.topic("articles.rejected"), 2))
    assert sorted(letter["reason"].split(":")[0] for letter in letters) == ["item 0 (line 1)", "item 1 (line 2)"]
    assert await read_topic(settings.kafka_bootstrap, settings.topic("articles"), 0, settle=1.0) == []


async def test_health_and_metrics_when_the_broker_is_up(ingest: IngestServer):
    assert await ingest.get("/healthz") == (200, {"status": "ok"})
    assert await ingest.get("/readyz") == (200, {"ready": True})
    await ingest.post({"id": "counted"})
    async with ingest.session.get(f"{ingest.url}/metrics") as resp:
        text = await resp.text()
    assert "newsalert_ingest_articles_accepted_total 1.0" in text


async def test_broker_down_means_not_ready_and_nothing_accepted(topic_prefix: str):
    # An unused port stands for a broker that is down (the shared broker stays up).
    server = await IngestServer(_settings(f"127.0.0.1:{free_port()}", topic_prefix)).start()
    try:
        assert (await server.get("/healthz"))[0] == 200
        status, answer = await server.get("/readyz")
        assert status == 503 and answer["ready"] is False and answer["reason"]
        started = time.monotonic()
        status, answer = await server.post({"id": "lost"})
        assert status == 503 and answer["accepted"] == []
        assert "nothing was accepted" in answer["error"]
        assert time.monotonic() - started < 10, "a request must not wait for the full delivery timeout"
        # Invalid input is still the client's problem, broker or not.
        status, _ = await server.post('{"id": ')
        assert status == 400
    finally:
        await server.close()


def test_serve_ingest_process_serves_and_stops_on_sigterm(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path):
    port = free_port()
    env = {**os.environ, "NEWSALERT_KAFKA_BOOTSTRAP": kafka_bootstrap, "NEWSALERT_TOPIC_PREFIX": topic_prefix}
    log_path = tmp_path / "ingest.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([newsalert_executable(), "serve", "ingest", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        _wait_http(f"http://127.0.0.1:{port}/readyz", timeout=60, proc=proc, log_path=log_path)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/articles", data=b'{"id": "via-cli"}', headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as resp:
            assert resp.status == 202 and json.load(resp)["accepted"] == ["via-cli"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log_path.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    settings = Settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix)
    records = asyncio.run(read_topic(kafka_bootstrap, settings.topic("articles"), 1))
    assert [r.key for r in records] == [b"via-cli"]


def _wait_http(url: str, timeout: float, proc: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"ingest exited with {proc.returncode}:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} not ready within {timeout} s:\n{log_path.read_text()}")
