"""The demo webhook sink over real HTTP on 127.0.0.1: verification, de-duplication, record, stats.

Requests are signed with the ``standardwebhooks`` reference library, so the sink is checked
against the specification and not only against our own signer. The last tests run the real
notifier into the sink, and the sink as ``newsalert serve webhook-sink``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from datetime import datetime, timezone
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from standardwebhooks import Webhook

from newsalert.domain.alerts import new_alert
from newsalert.adapters.processes import ServiceProcess, free_port, newsalert_executable
from newsalert.adapters.topics import ensure_topics
from newsalert.adapters.rule_files import load_rule_file
from newsalert.schemas import Alert, Article, Highlight
from newsalert.domain.delivery.endpoints import endpoints_from_subscribers
from newsalert.services.notifier.main import NotifierProcess
from newsalert.services.webhook_sink.app import SINK_STATE, create_app

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[2]
OLD = "whsec_" + base64.b64encode(b"the old key of the desk, 32 byte").decode()
NEW = "whsec_" + base64.b64encode(b"the new key of the desk, 32 byte").decode()


def alert(n: int, subscriber: str = "desk", rule: str = "r1") -> Alert:
    article = Article(id=f"a{n}", title=f"North Korea fires missiles ({n})", body="Text.", url="https://x.example/a",
                      source="X", published="2024-01-01T00:00:00Z")
    highlights = [Highlight(field="title", text="North Korea", start=0, end=11),
                  Highlight(field="title", text="missiles", start=18, end=26),
                  Highlight(field="body", text="North Korea", start=0, end=11)]
    return new_alert(article, rule, "North Korea AND missiles", subscriber, highlights, ruleset_version="v")


def signed(secret: str, item: Alert, when: datetime | None = None) -> tuple[dict[str, str], bytes]:
    body = item.webhook_payload().to_body()
    when = when or datetime.now(timezone.utc)
    headers = {
        "webhook-id": item.webhook_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": Webhook(secret).sign(item.webhook_id, when, body.decode()),
        "content-type": "application/json",
    }
    return headers, body


@pytest.fixture
async def sink(tmp_path: Path):
    """The sink app on a free loopback port; yields (base url, app, printed lines, record path)."""
    lines: list[str] = []
    record = tmp_path / "received.jsonl"
    app = create_app({"desk": (OLD, NEW), "other": (OLD,)}, record, echo=lines.append)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}", app, lines, record
    await runner.cleanup()


async def post(url: str, headers: dict[str, str], body: bytes) -> int:
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=body, headers=headers) as response:
            return response.status


async def get_json(url: str) -> dict:
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as response:
            assert response.status == 200
            return await response.json()


async def test_accepts_signed_alert_prints_records_and_counts_duplicates(sink) -> None:
    base, app, lines, record = sink
    first, second = alert(1), alert(2, rule="r2")
    assert await post(f"{base}/hooks/desk", *signed(OLD, first)) == 204
    assert await post(f"{base}/hooks/desk", *signed(NEW, first)) == 204  # redelivery, other secret
    assert await post(f"{base}/hooks/desk", *signed(NEW, second)) == 204

    stats = await get_json(f"{base}/stats")
    assert stats["received"] == 3 and stats["distinct"] == 2 and stats["duplicates"] == 1
    assert stats["per_rule"] == {"r1": 1, "r2": 1} and stats["per_subscriber"] == {"desk": 2}
    assert stats["rejected"] == 0 and stats["verifying"] is True

    assert len(lines) == 3
    assert "desk" in lines[0] and "r1" in lines[0] and "North Korea fires missiles (1)" in lines[0]
    assert "terms: North Korea, missiles" in lines[0] and "duplicate" not in lines[0]
    assert "(duplicate)" in lines[1]

    rows = [json.loads(line) for line in record.read_text().splitlines()]
    assert [r["webhook_id"] for r in rows] == [first.webhook_id, first.webhook_id, second.webhook_id]
    assert [r["duplicate"] for r in rows] == [False, True, False]
    assert rows[0]["subscriber"] == "desk" and rows[0]["payload"]["article"]["id"] == "a1"
    assert rows[0]["payload"]["rule"] == {"id": "r1", "query": "North Korea AND missiles"}
    assert rows[0]["webhook_timestamp"].isdigit() and abs(rows[0]["received_at"] - time.time()) < 60
    assert app[SINK_STATE].received[0].payload.webhook_id == first.webhook_id


async def test_refuses_bad_signatures_unknown_subscribers_and_bad_bodies(sink) -> None:
    base, app, lines, record = sink
    item = alert(1)
    headers, body = signed(OLD, item)
    wrong_key = "whsec_" + base64.b64encode(b"not the desk's key, 32 bytes ok!").decode()
    assert await post(f"{base}/hooks/desk", *signed(wrong_key, item)) == 401
    assert await post(f"{base}/hooks/desk", headers, body.replace(b"North", b"South")) == 401
    stale = datetime.fromtimestamp(time.time() - 3600, timezone.utc)
    assert await post(f"{base}/hooks/desk", *signed(OLD, item, stale)) == 401
    assert await post(f"{base}/hooks/desk", {k: v for k, v in headers.items() if k != "webhook-signature"}, body) == 401
    assert await post(f"{base}/hooks/nobody", headers, body) == 404
    # Signed correctly for "other", but the payload names "desk": refused, not recorded.
    assert await post(f"{base}/hooks/other", *signed(OLD, item)) == 400
    junk = b'{"hello": "world"}'
    junk_headers = {"webhook-id": "msg_x", "webhook-timestamp": str(int(time.time())),
                    "webhook-signature": Webhook(OLD).sign("msg_x", datetime.now(timezone.utc), junk.decode())}
    assert await post(f"{base}/hooks/desk", junk_headers, junk) == 422

    stats = await get_json(f"{base}/stats")
    assert stats["received"] == 0 and stats["rejected"] == 5
    assert lines == [] and (not record.exists() or record.read_text() == "")


async def test_without_secrets_accepts_unsigned_but_needs_a_webhook_id(tmp_path: Path) -> None:
    app = create_app(None, echo=None)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        item = alert(1)
        body = item.webhook_payload().to_body()
        assert await post(f"http://127.0.0.1:{port}/hooks/desk", {"webhook-id": item.webhook_id}, body) == 204
        assert await post(f"http://127.0.0.1:{port}/hooks/desk", {}, body) == 400
        assert (await get_json(f"http://127.0.0.1:{port}/stats"))["verifying"] is False
    finally:
        await runner.cleanup()


def _rules(tmp_path: Path, port: int) -> Path:
    text = (REPO / "seeds" / "rules.yaml").read_text().replace("127.0.0.1:8787", f"127.0.0.1:{port}")
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return path


@pytest.mark.kafka
async def test_notifier_into_sink_every_signature_verifies(kafka_settings, tmp_path: Path) -> None:
    port = free_port()
    ruleset = load_rule_file(_rules(tmp_path, port))
    endpoints = endpoints_from_subscribers(ruleset.subscribers)
    app = create_app({sid: e.secrets for sid, e in endpoints.items()}, tmp_path / "rec.jsonl", echo=None)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    settings = kafka_settings.model_copy(update={"notifier_commit_interval": 0.2})
    await ensure_topics(settings)
    alerts = [alert(i, subscriber=sid) for i, sid in enumerate(sorted(endpoints) * 3)]
    from newsalert.adapters.broker import KafkaPublisher, Record

    publisher = KafkaPublisher(settings)
    await publisher.start()
    await publisher.publish_many([Record(settings.topic("matches"), a.to_json(), a.subscriber.encode()) for a in alerts])
    await publisher.stop()
    process = NotifierProcess(settings, endpoints)
    task = asyncio.create_task(process.run())
    try:
        state = app[SINK_STATE]
        deadline = time.monotonic() + 60
        while len(state.counts) < len(alerts) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
    finally:
        process.stop()
        await asyncio.wait_for(task, 30)
        await runner.cleanup()
    assert set(state.counts) == {a.webhook_id for a in alerts}
    assert state.rejected == 0  # every notifier signature verified in the sink


def test_cli_sink_verifies_prints_and_records(tmp_path: Path) -> None:
    port = free_port()
    rules = _rules(tmp_path, port)
    record = tmp_path / "out" / "received.jsonl"
    service = ServiceProcess(
        "sink", [newsalert_executable(), "serve", "webhook-sink", "--rules", str(rules), "--port", str(port), "--record", str(record)],
        tmp_path / "sink.log", health_url=f"http://127.0.0.1:{port}/healthz",
    ).start()
    try:
        service.wait_healthy(timeout=30)
        subscriber = load_rule_file(rules).subscribers["asia-desk"]
        secret = subscriber.secret[0].get_secret_value()
        item = alert(7, subscriber="asia-desk", rule="nk-missiles")
        assert asyncio.run(post(f"http://127.0.0.1:{port}/hooks/asia-desk", *signed(secret, item))) == 204
        assert asyncio.run(post(f"http://127.0.0.1:{port}/hooks/asia-desk", *signed(OLD, item))) == 401
        stats = asyncio.run(get_json(f"http://127.0.0.1:{port}/stats"))
        assert stats["received"] == 1 and stats["rejected"] == 1
    finally:
        assert service.stop() == 0
    rows = [json.loads(line) for line in record.read_text().splitlines()]
    assert [r["webhook_id"] for r in rows] == [item.webhook_id]
    log = service.log_path.read_text()
    assert "asia-desk" in log and "nk-missiles" in log and "terms: North Korea, missiles" in log
    assert "signature" in log  # the refused request is logged
    assert secret.removeprefix("whsec_") not in log


@pytest.mark.parametrize("fmt", ["slack", "teams", "discord"])
async def test_accepts_signed_chat_messages_and_shows_them(sink, fmt: str) -> None:
    from newsalert.domain.chat import chat_body

    base, app, lines, record = sink
    item = alert(7)
    body = chat_body(fmt, item)
    when = datetime.now(timezone.utc)
    headers = {"webhook-id": item.webhook_id, "webhook-timestamp": str(int(when.timestamp())),
               "webhook-signature": Webhook(OLD).sign(item.webhook_id, when, body.decode()), "content-type": "application/json"}
    assert await post(f"{base}/hooks/desk", headers, body) == 204
    assert await post(f"{base}/hooks/desk", {**headers, "webhook-signature": "v1,AAAA"}, body) == 401
    assert len(lines) == 1 and lines[0].startswith("chat  -> desk") and fmt in lines[0]
    assert "North Korea fires missiles (7)" in lines[0]
    (row,) = [json.loads(line) for line in record.read_text().splitlines()]
    assert (row["webhook_id"], row["format"], row["message"]) == (item.webhook_id, fmt, json.loads(body))
    stats = await get_json(f"{base}/stats")
    assert stats["per_subscriber"] == {"desk": 1} and stats["rejected"] == 1
