"""Helpers of the matcher end-to-end tests (stall, live rules, de-duplication): matcher workers as
real ``newsalert serve matcher`` processes, articles published with the project's publisher,
``/healthz`` read over HTTP. Every wait is bounded.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

from newsalert.adapters.broker import KafkaPublisher, Record
from newsalert.adapters.processes import ServiceProcess, free_port, newsalert_executable
from newsalert.config import Settings
from tests.support import SECRET  # noqa: F401 - re-exported to the e2e tests

REPO = Path(__file__).resolve().parents[2]


def start_matcher(
    settings: Settings, rules: Path, log_dir: Path, name: str = "matcher", env: dict[str, str] | None = None
) -> ServiceProcess:
    """A matcher worker of the test's group, started and ready (joined the group)."""
    port = free_port()
    proc = ServiceProcess(
        name, [newsalert_executable(), "serve", "matcher", "--rules", str(rules), "--port", str(port)],
        log_dir / f"{name}.log",
        env={
            "NEWSALERT_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "NEWSALERT_TOPIC_PREFIX": settings.topic_prefix,
            "NEWSALERT_HOME": str(log_dir / "home"),
            **(env or {}),
        },
        health_url=f"http://127.0.0.1:{port}/readyz", cwd=REPO,
    )
    proc.port = port  # type: ignore[attr-defined]
    proc.start()
    proc.wait_healthy(timeout=90)
    return proc


def health(proc: ServiceProcess) -> tuple[int, dict]:
    """``(status, body)`` of the worker's /healthz; ``(0, {})`` when it does not answer."""
    url = f"http://127.0.0.1:{proc.port}/healthz"  # type: ignore[attr-defined]
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")
    except OSError:
        return 0, {}


def wait_consumed(proc: ServiceProcess, count: int, timeout: float = 60.0) -> dict:
    """Wait until the worker reports ``consumed >= count``; return its last /healthz body."""
    deadline = time.monotonic() + timeout
    body: dict = {}
    while time.monotonic() < deadline:
        _, body = health(proc)
        if body.get("consumed", 0) >= count:
            return body
        time.sleep(0.2)
    raise AssertionError(f"{proc.name} consumed {body.get('consumed')} of {count} within {timeout:.0f} s:\n{proc.log_tail()}")


def article(id: str, title: str, body: str = "", **extra) -> dict:
    """An article as a producer sends it."""
    return {"id": id, "title": title, "body": body, "url": f"https://news.example/{id}", "source": "Wire", **extra}


async def publish_articles(settings: Settings, articles: list[dict]) -> None:
    """Publish ``articles`` to the test's ``articles`` topic (key = id) and wait for the broker."""
    publisher = KafkaPublisher(settings)
    await publisher.start()
    try:
        topic = settings.topic("articles")
        await publisher.publish_many(Record(topic, json.dumps(a).encode(), key=a["id"].encode()) for a in articles)
    finally:
        await publisher.stop()
