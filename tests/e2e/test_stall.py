"""Stall detection of a matcher worker, on the real broker with a real worker process.

What "tested by pausing a worker (SIGSTOP)" means here (see ``services/matcher/watchdog.py``): a
SIGSTOPped process runs none of its threads, so no check can fire *during* the pause. The test
pauses the worker for longer than ``NEWSALERT_STALL_TIMEOUT`` while articles keep arriving (lag
grows, no offset is committed), then resumes it with SIGCONT. The watchdog thread's first check
after the resume sees the stale committed offset with lag above zero: the worker answers 503 on
``/healthz`` and exits with status 3 (for a supervisor to restart it). The control pauses an
idle worker just as long: lag stays 0, so it is not killed. The rule itself, including a worker
that keeps running but stops committing, is unit tested on a fake clock
(tests/unit/test_matcher_stall.py).
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from newsalert.adapters.topics import ensure_topics
from newsalert.config import Settings
from newsalert.services.matcher.watchdog import EXIT_STALLED
from tests.e2e.matcher_procs import SECRET, article, health, publish_articles, start_matcher, wait_consumed

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]

STALL_TIMEOUT = 6.0
RULES = f"""\
subscribers:
  - id: desk
    url: http://127.0.0.1:9/hooks/desk
    secret: {SECRET}
rules:
  - id: nk
    query: Korea
    notify: [desk]
"""


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    return path


def wait_observed(proc, consumed: int) -> None:
    """Wait until the worker consumed ``consumed`` articles and its watchdog has seen the lag at 0."""
    deadline = time.monotonic() + 60
    body: dict = {}
    while time.monotonic() < deadline:
        _, body = health(proc)
        if body.get("consumed", 0) >= consumed and body.get("lag") and not any(body["lag"].values()):
            return
        time.sleep(0.2)
    raise AssertionError(f"the worker's watchdog never observed it caught up: {body}\n{proc.log_tail()}")


def pause(proc, seconds: float) -> None:
    proc.signal(signal.SIGSTOP)
    try:
        time.sleep(seconds)
    finally:
        proc.signal(signal.SIGCONT)


async def test_paused_worker_with_growing_lag_is_declared_stalled_and_exits(kafka_settings: Settings, rules: Path, tmp_path: Path):
    await ensure_topics(kafka_settings)
    worker = start_matcher(kafka_settings, rules, tmp_path, env={"NEWSALERT_STALL_TIMEOUT": str(STALL_TIMEOUT)})
    try:
        await publish_articles(kafka_settings, [article(f"a{i}", "Korea talks") for i in range(5)])
        wait_observed(worker, 5)
        worker.signal(signal.SIGSTOP)
        try:
            # Lag grows while the worker cannot commit.
            await publish_articles(kafka_settings, [article(f"b{i}", "Korea talks") for i in range(50)])
            time.sleep(STALL_TIMEOUT + 4)
        finally:
            worker.signal(signal.SIGCONT)
        seen_503 = False
        deadline = time.monotonic() + 60
        while worker.alive() and time.monotonic() < deadline:
            status, body = health(worker)
            if status == 503 and body.get("status") == "stalled":
                seen_503 = True
            time.sleep(0.1)
        assert not worker.alive(), f"the stalled worker did not exit:\n{worker.log_tail()}"
        assert worker.process.returncode == EXIT_STALLED, worker.log_tail()
        log = worker.log_path.read_text()
        assert "stalled:" in log and "lag" in log, log[-3000:]
        assert seen_503, f"/healthz never answered 503 between the detection and the exit:\n{worker.log_tail()}"
    finally:
        worker.stop()


async def test_paused_idle_worker_is_not_declared_stalled(kafka_settings: Settings, rules: Path, tmp_path: Path):
    await ensure_topics(kafka_settings)
    worker = start_matcher(kafka_settings, rules, tmp_path, env={"NEWSALERT_STALL_TIMEOUT": str(STALL_TIMEOUT)})
    try:
        await publish_articles(kafka_settings, [article(f"a{i}", "Korea talks") for i in range(5)])
        wait_observed(worker, 5)
        pause(worker, STALL_TIMEOUT + 4)
        time.sleep(STALL_TIMEOUT)  # several checks after the resume
        assert worker.alive(), worker.log_tail()
        status, body = health(worker)
        assert status == 200 and body["stalled"] is None, body
        # And it still works: new articles are matched.
        await publish_articles(kafka_settings, [article("c1", "Korea talks")])
        wait_consumed(worker, 6)
    finally:
        assert worker.stop() == 0
