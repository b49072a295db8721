"""Secrets stay secret: no webhook secret and no API token in any log line, error answer, dead
letter, attempt record or metric.

The whole pipeline (matcher, notifier, ingest, api) runs with known secrets: a YAML subscriber
that is delivered, one whose endpoint answers 500 and one whose endpoint refuses connections
(both dead-lettered after a one-retry schedule), a subscription created over the API (its secret
returned once), one left pending (its endpoint does not echo the challenge), requests refused for
a wrong token and for a body carrying a secret, and ``newsalert rules check`` of a file with a
malformed secret. Then every log file, every HTTP answer, every ``/metrics`` page and every record
(key, value, headers) of every topic of the run is searched for each secret, for its key without
the ``whsec_`` prefix, and for the token.

The one exception is the ``rules`` topic: it is the store the notifier reads subscribers (with
their secrets) from, by design (``newsalert.schemas.rules_feed``); it is checked to hold them, so
the search is known to be able to find them.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from newsalert.adapters.processes import free_port

from .test_process_faults import SlowReceiver, serving

pytestmark = [pytest.mark.kafka]

TOKEN = "tok-e2e-secrecy-7f3a9c1d5b2e8f40a6c4"
SECRETS = {
    "ok-desk": "whsec_c2VjcmV0LW9mLXRoZS1vay1kZXNrLTAxMjM0NTY3",
    "http500-desk": "whsec_c2VjcmV0LW9mLXRoZS01MDAtZGVzay0wMTIzNDU2Nw==",
    "refused-desk": "whsec_c2VjcmV0LW9mLXRoZS1yZWZ1c2VkLWRlc2stMDEyMzQ1",
}
BAD_SECRET = "whsec_not/base64!!-but-a-known-value-9d8c7b6a"  # refused by `rules check`
OFFERED_SECRET = "whsec_b2ZmZXJlZC1ieS1hLWNsaWVudC0wMTIzNDU2Nzg5"  # sent in a refused API body


def write_rules(path: Path, ok: SlowReceiver, failing: SlowReceiver, closed_port: int) -> Path:
    urls = {"ok-desk": ok.url("ok-desk"), "http500-desk": failing.url("http500-desk"),
            "refused-desk": f"http://127.0.0.1:{closed_port}/hooks/refused-desk"}
    lines = ["subscribers:"]
    for sid, secret in SECRETS.items():
        lines += [f"  - id: {sid}", f"    url: {urls[sid]}", f"    secret: {secret}"]
    lines += ["rules:", "  - id: paris", "    query: Paris", f"    notify: [{', '.join(SECRETS)}]", ""]
    path.write_text("\n".join(lines))
    return path


def call(url: str, body: dict | None = None, token: str = TOKEN, patience: float = 60) -> tuple[int, str]:
    """An HTTP request (POST with ``body``, else GET); a 503 (broker not ready yet) is retried."""
    deadline = time.monotonic() + patience
    while True:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                         headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, response.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            text = exc.read().decode(errors="replace")
            if exc.code != 503 or time.monotonic() > deadline:
                return exc.code, text
            time.sleep(1)


async def every_record(bootstrap: str, prefix: str) -> dict[str, list[bytes]]:
    """Topic -> every record of it as bytes (key, value and headers joined), for the run's topics."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = sorted(t for t in await admin.list_topics() if t.startswith(prefix))
    finally:
        await admin.close()
    found: dict[str, list[bytes]] = {}
    for topic in topics:
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest",
                                    enable_auto_commit=False, isolation_level="read_uncommitted")
        await consumer.start()
        records: list[bytes] = []
        try:
            quiet_since = time.monotonic()
            while time.monotonic() - quiet_since < 1.5:
                batches = await consumer.getmany(timeout_ms=300)
                for batch in batches.values():
                    quiet_since = time.monotonic()
                    for r in batch:
                        records.append(b"|".join([r.key or b"", r.value or b"", *(k.encode() + v for k, v in (r.headers or ()))]))
        finally:
            await consumer.stop()
        found[topic] = records
    return found


def needles() -> dict[str, str]:
    """What must never show: each secret, its key without the prefix, and the token."""
    out = {"api token": TOKEN, "offered secret": OFFERED_SECRET, "malformed secret": BAD_SECRET}
    for sid, secret in SECRETS.items():
        out[f"secret of {sid}"] = secret
        out[f"key of {sid}"] = secret.removeprefix("whsec_")
    return out


@pytest.mark.timeout(420)
def test_no_secret_in_logs_answers_dead_letters_or_metrics(pipeline, receiver, tmp_path):
    with serving(SlowReceiver(status=500)) as failing:
        closed_port = free_port()
        rules = write_rules(tmp_path / "rules.yaml", receiver, failing, closed_port)
        articles = tmp_path / "articles.jsonl"
        articles.write_text("".join(json.dumps({"id": f"paris-{i}", "title": f"Paris bulletin {i}", "body": "Filed in Paris."}) + "\n"
                                    for i in range(5)))
        pipeline.env.update({"NEWSALERT_API_TOKEN": TOKEN, "NEWSALERT_RETRY_SCHEDULE": "0.5", "NEWSALERT_RETRY_THROTTLE_FLOOR": "0",
                             "NEWSALERT_BREAKER_THRESHOLD": "100"})
        services = {name: pipeline.start(name, *(["--rules", str(rules)] if name != "ingest" else []))
                    for name in ("matcher", "notifier", "api", "ingest")}
        api = services["api"].health_url.rsplit("/", 1)[0]
        answers: list[str] = []

        status, text = call(f"{api}/subscriptions", {"url": receiver.url("api-desk"), "queries": ["Paris"]})
        assert status == 201, text
        api_secret = json.loads(text)["secret"]
        answers.append(text.replace(api_secret, "<the one answer allowed to carry it>"))
        status, text = call(f"{api}/subscriptions", {"url": failing.url("pending-desk"), "queries": ["Paris"]})
        assert status == 201 and json.loads(text)["status"] == "pending", text
        answers.append(text)
        for body, token, expected in [({"url": receiver.url("x"), "queries": ["a"]}, "wrong-" + TOKEN, 401),
                                      ({"url": receiver.url("x"), "queries": ["a"], "secret": OFFERED_SECRET}, TOKEN, 422)]:
            status, text = call(f"{api}/subscriptions", body, token=token)
            assert status == expected, text
            answers.append(text)
        for path in ("/subscriptions", f"/subscriptions/{json.loads(answers[0])['id']}"):
            answers.append(call(api + path)[1])

        pipeline.cli("replay", str(articles))
        delivered = lambda sid: sum(r.path.endswith(f"/{sid}") for r in receiver.snapshot())  # noqa: E731
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (delivered("ok-desk") < 5 or delivered("api-desk") < 5):
            time.sleep(0.5)
        assert delivered("ok-desk") == 5 and delivered("api-desk") >= 5
        time.sleep(5)  # the 500 and refused deliveries: attempt, retry after 0.5 s, dead letter
        pages = {name: urllib.request.urlopen(svc.health_url.rsplit("/", 1)[0] + "/metrics", timeout=10).read().decode()
                 for name, svc in services.items()}
        bad = tmp_path / "bad-secret.yaml"
        bad.write_text(rules.read_text().replace(SECRETS["ok-desk"], BAD_SECRET))
        check = pipeline.cli("rules", "check", str(bad), check=False)
        assert check.returncode != 0, "a malformed secret passed the check"
        answers += [check.stdout, check.stderr, pipeline.cli("deliveries", "list", "--subscriber", "http500-desk").stdout]
        assert len(failing.snapshot()) >= 2, "the failing endpoint was not retried"

    pipeline.stop_all()
    records = asyncio.run(every_record(pipeline.env["NEWSALERT_KAFKA_BOOTSTRAP"], pipeline.env["NEWSALERT_TOPIC_PREFIX"]))
    prefix = pipeline.env["NEWSALERT_TOPIC_PREFIX"]
    dead = records.get(f"{prefix}deliveries.dead", [])
    assert len(dead) >= 10, f"expected the dead letters of two failing subscribers, found {len(dead)}"
    store = b"".join(records.pop(f"{prefix}rules"))
    assert SECRETS["ok-desk"].encode() in store and api_secret.encode() in store, "the search cannot find secrets where they are"

    texts = {f"log of {name}": svc.log_path.read_text(errors="replace") for name, svc in pipeline.services.items()}
    texts |= {f"/metrics of {name}": page for name, page in pages.items()}
    texts |= {f"answer {i}": answer for i, answer in enumerate(answers)}
    texts |= {f"topic {topic}": b"\n".join(values).decode(errors="replace") for topic, values in records.items()}
    searched = needles() | {"api subscription secret": api_secret, "api subscription key": api_secret.removeprefix("whsec_")}
    leaks = [f"{what} in {where}" for where, text in texts.items() for what, needle in searched.items() if needle in text]
    print(f"\nsearched {len(texts)} texts ({sum(map(len, texts.values())):,} characters; {sum(map(len, records.values()))} "
          f"records in {len(records)} topics, {len(dead)} dead letters) for {len(searched)} secrets: {len(leaks)} found")
    assert not leaks, leaks
