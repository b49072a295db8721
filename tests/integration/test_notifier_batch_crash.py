"""kill -9 of a notifier delivering batches (``batch_max``), then a restart: every alert still
arrives at least once, signed. A batch's records are committed only once its follow-up is
durable, so alerts of a batch cut off by the kill are fetched and sent again (perhaps grouped
differently: receivers de-duplicate on the alerts' own ids)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path

import pytest

from newsalert.adapters.processes import ServiceProcess, free_port, newsalert_executable
from newsalert.adapters.topics import ensure_topics
from newsalert.config import Settings
from tests.integration.test_notifier import (  # noqa: F401 - fixtures
    SECRETS,
    Receiver,
    assert_verifies,
    make_alert,
    publish,
    ready,
    receiver,
    settings,
)

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]

NAMES = ("alice", "bob", "carol")
BATCH_MAX = 10


def write_batched_rules(path: Path, receiver: Receiver) -> Path:
    lines = ["subscribers:"]
    for name in NAMES:
        lines += [f"  - id: {name}", f"    url: {receiver.url(name)}", f"    secret: {SECRETS[name]}", f"    batch_max: {BATCH_MAX}"]
    lines += ["rules:", "  - id: r-missiles", "    query: North Korea AND missiles", "    notify: [alice, bob, carol]"]
    path.write_text("\n".join(lines) + "\n")
    return path


def alert_ids(receiver: Receiver) -> Counter:
    """How often each alert arrived, alone or inside a batch (signatures checked)."""
    counts: Counter = Counter()
    for hit in receiver.delivered():
        body = assert_verifies(hit)
        counts.update([p["webhook_id"] for p in body["alerts"]] if body["type"] == "batch" else [body["webhook_id"]])
    return counts


async def test_kill_9_while_delivering_batches_then_restart_delivers_every_alert(
    settings: Settings, receiver: Receiver, tmp_path: Path
) -> None:
    await ensure_topics(settings)
    total = 600
    alerts = [make_alert(i, NAMES[i % 3]) for i in range(total)]
    expected = {a.webhook_id for a in alerts}
    await publish(settings, [(a.subscriber.encode(), a.to_json()) for a in alerts])
    receiver.delay = 0.2  # twenty batched POSTs per lane take about 4 s: the kill lands mid-stream
    rules = write_batched_rules(tmp_path / "rules.yaml", receiver)
    env = {"NEWSALERT_KAFKA_BOOTSTRAP": settings.kafka_bootstrap, "NEWSALERT_TOPIC_PREFIX": settings.topic_prefix,
           "NEWSALERT_ALLOW_PRIVATE_TARGETS": "true", "NEWSALERT_NOTIFIER_COMMIT_INTERVAL": "0.5"}

    def start(run: int) -> ServiceProcess:
        port = free_port()
        return ServiceProcess(
            f"notifier-{run}", [newsalert_executable(), "serve", "notifier", "--rules", str(rules), "--port", str(port)],
            tmp_path / f"notifier-{run}.log", env=env, health_url=f"http://127.0.0.1:{port}/healthz",
        ).start()

    first = start(1)
    try:
        deadline = time.monotonic() + 90
        while len(alert_ids(receiver)) < total // 4:
            assert first.alive(), first.log_tail()
            assert time.monotonic() < deadline, f"only {len(alert_ids(receiver))} delivered:\n{first.log_tail()}"
            await asyncio.sleep(0.1)
        first.kill()  # SIGKILL: nothing flushed, nothing committed on the way out
        at_kill = len(alert_ids(receiver))
        assert at_kill < total, "the stream finished before the kill: the test would prove nothing"
        second = start(2)
        try:
            assert await ready(second.health_url.replace("/healthz", "/readyz"), timeout=60), second.log_tail()
            deadline = time.monotonic() + 120
            while not expected <= set(alert_ids(receiver)) and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
        finally:
            assert second.stop() == 0, second.log_tail()  # SIGTERM: a clean, committed exit
    finally:
        first.stop()
    counts = alert_ids(receiver)
    assert set(counts) == expected, f"{len(expected - set(counts))} alerts never arrived after the restart"
    bodies = [json.loads(h.body) for h in receiver.delivered()]
    assert any(b["type"] == "batch" for b in bodies) and all(b.get("count", 1) <= BATCH_MAX for b in bodies)
    for hit in receiver.delivered():
        assert hit.headers["webhook-id"] == json.loads(hit.body)["webhook_id"]
    print(f"\nkill -9 after {at_kill}/{total} alerts delivered in {len(bodies)} POSTs; after restart {len(counts)} distinct, "
          f"{sum(n - 1 for n in counts.values())} duplicates")
