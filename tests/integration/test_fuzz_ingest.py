"""Fuzzing ``POST /articles`` over real HTTP against the real broker: random bytes, invalid UTF-8,
NUL bytes, deeply nested JSON, 10,000-item arrays, huge strings and batches mixing good and bad
items. Every request gets a clear 4xx (or 202 for what is valid) with a JSON error, never a 5xx;
the server stays up; the valid articles of mixed batches all reach the topic; every refused item
of a partly valid batch is dead-lettered. Prints the cases and their answers (docs/reliability.md).
"""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from newsalert.config import Settings

from .test_ingest import IngestServer
from .topic_reader import read_topic, values

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]

MAX_BODY = 256 * 1024
MAX_BATCH = 1000


def good(n: int) -> dict:
    return {"id": f"fuzz-good-{n}", "title": f"Paris bulletin {n}", "body": "Filed in Paris.", "url": f"https://news.example/{n}"}


def cases(rng: random.Random) -> list[tuple[str, bytes, str]]:
    """(kind, body, content type) of every request tried."""
    out = []
    for _ in range(60):
        out.append(("random bytes", rng.randbytes(rng.randint(0, 4000)), "application/json"))
    for _ in range(20):
        text = json.dumps(good(0)).encode()
        cut = rng.randint(1, len(text) - 1)
        out.append(("invalid UTF-8", text[:cut] + rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"]) + text[cut:],
                    "application/json"))
    for field in ("id", "title", "body", "url", "source"):
        out.append(("NUL bytes", json.dumps({**good(0), field: "a\x00b\u0000c"}).encode(), "application/json"))
        out.append(("NUL bytes", json.dumps({**good(0), field: "\x00" * 100}).encode(), "application/x-ndjson"))
    for depth in (50, 1000, 20_000, 100_000):
        out.append(("deeply nested JSON", b"[" * depth + b"]" * depth, "application/json"))
        out.append(("deeply nested JSON", json.dumps({**good(0), "body": None}).encode().replace(b"null", b'{"a":' * depth + b"1" + b"}" * depth),
                    "application/json"))
    out.append(("10,000-item array", json.dumps([good(i) for i in range(10_000)]).encode(), "application/json"))
    out.append(("10,000-item array", json.dumps([1] * 10_000).encode(), "application/json"))
    out.append(("10,000-item array", json.dumps({**good(0), "title": ["x"] * 10_000}).encode(), "application/json"))
    for size in (MAX_BODY // 2, MAX_BODY + 1, 4 * MAX_BODY):
        out.append(("huge string", json.dumps({**good(0), "body": "x" * size}).encode(), "application/json"))
        out.append(("huge string", json.dumps({**good(0), "id": "i" * size}).encode(), "application/json"))
    for _ in range(10):
        item = rng.choice([1, "x", None, [], {}, {"id": 5}, {"title": "no id"}, {**good(0), "published": "yesterday"}])
        out.append(("junk item", json.dumps(item).encode(), "application/json"))
    return out


@pytest.fixture
async def ingest(kafka_bootstrap: str, topic_prefix: str):
    settings = Settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix, ingest_max_body_bytes=MAX_BODY, ingest_max_batch=MAX_BATCH)
    server = await IngestServer(settings).start()
    try:
        await server.wait_ready()
        yield server
    finally:
        await server.close()


async def post_raw(server: IngestServer, body: bytes, content_type: str) -> tuple[int, dict | None]:
    async with server.session.post(f"{server.url}/articles", data=body, headers={"Content-Type": content_type}) as resp:
        text = await resp.read()
        try:
            return resp.status, json.loads(text)
        except ValueError:
            return resp.status, None


def assert_located(status: int, answer: dict, kind: str) -> None:
    """A refusal says where: the line of malformed JSON, each refused item's index, line and field."""
    if status == 400 and "empty" not in answer["error"] and "holds no articles" not in answer["error"]:
        assert "line" in answer, (kind, answer)
    if status in (202, 422):
        for item in answer["rejected"]:
            assert {"index", "line"} <= set(item) and item["errors"] and all(e["field"] and e["message"] for e in item["errors"]), (kind, item)
    if status == 413:
        assert any(ch.isdigit() for ch in answer["error"]), (kind, answer)  # the limit it went over


async def test_bad_bodies_get_clear_errors_and_lose_nothing(ingest: IngestServer) -> None:
    rng = random.Random(12)
    table: dict[str, Counter] = {}
    for kind, body, content_type in cases(rng):
        status, answer = await post_raw(ingest, body, content_type)
        assert status < 500, (kind, status, answer)
        assert answer is not None and (status == 202 or answer.get("error")), (kind, status, answer)
        assert_located(status, answer, kind)
        table.setdefault(kind, Counter())[status] += 1

    # Mixed batches: each valid item is published, each bad one is dead-lettered, none is lost.
    published, refused = [], 0
    for batch in range(10):
        items: list = []
        for i in range(20):
            if rng.random() < 0.3:
                items.append(rng.choice([1, None, "x", {"id": ""}, {"title": "no id"}, {"id": f"bad-{batch}-{i}", "title": "\x00", "body": 5}]))
                refused += 1
            else:
                items.append(good(batch * 100 + i))
                published.append(items[-1]["id"])
        status, answer = await post_raw(ingest, json.dumps(items).encode(), "application/json")
        assert status == 202, answer
        table.setdefault("mixed batch (20 items, ~30 % bad)", Counter())[status] += 1
    status, health = await ingest.get("/healthz")
    assert status == 200, health
    prefix = ingest.settings.topic("")
    articles = values(await read_topic(ingest.settings.kafka_bootstrap, f"{prefix}articles", expected=len(published), timeout=30))
    ids = Counter(a["id"] for a in articles)
    missing = set(published) - set(ids)
    assert not missing, f"valid articles of mixed batches lost: {sorted(missing)}"
    assert all(ids[i] == 1 for i in published), "a valid article of a mixed batch was published twice"
    dead = await read_topic(ingest.settings.kafka_bootstrap, f"{prefix}articles.rejected", expected=refused, timeout=30)
    assert len(dead) >= refused, f"{refused} refused items, {len(dead)} dead letters"
    for kind, statuses in table.items():
        print(f"\ningest fuzz {kind}: {sum(statuses.values())} requests, answers {dict(sorted(statuses.items()))}")
    print(f"\ningest fuzz mixed batches: {len(published)} valid items all published, {refused} bad items, {len(dead)} dead letters")
