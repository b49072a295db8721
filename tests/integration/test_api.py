"""The subscription API over real HTTP on 127.0.0.1 against the real broker.

Each API instance runs in a background thread with its own event loop (so the tests can use
plain blocking ``requests`` calls, as schemathesis does), next to a challenge receiver on another
loopback port whose answer depends on the path: it echoes the challenge as JSON or as text,
answers a wrong value, an error status, or too late. Subscriptions are checked on the ``rules``
topic itself, and a second API instance on the same topics sees what the first stored.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest
import requests
from aiohttp import web
from aiokafka import AIOKafkaProducer

from newsalert.adapters.processes import free_port, newsalert_executable
from newsalert.config import Settings
from newsalert.domain.chat.reading import chat_format_of, gist
from newsalert.domain.delivery.endpoints import endpoint_of
from newsalert.domain.rulefile import load_rule_text
from newsalert.schemas.delivery import DeliveryAttempt
from newsalert.schemas.rules_feed import SubscriptionRecord
from newsalert.services.api.app import build_app
from newsalert.services.api.deliveries import ATTEMPTS_TOPIC
from newsalert.services.api.routes import ROUTES
from newsalert.services.api.store import read_feed

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]

TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHALLENGE_TIMEOUT = 1.5
RULES_YAML = """
subscribers:
  - id: desk
    url: https://hooks.example.org/desk
    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
rules:
  - id: nk-missiles
    query: '"North Korea" AND missile*'
    notify: [desk]
  - id: climate
    query: climate
    notify: [desk]
"""


class LoopThread:
    """An asyncio loop in a daemon thread, for servers the blocking test code talks to."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro, timeout: float = 60.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@dataclass
class Served:
    """An aiohttp app served on a free 127.0.0.1 port by a ``LoopThread``."""

    loop: LoopThread
    app_factory: Callable[[], web.Application]
    port: int = field(default_factory=free_port)
    runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Served":
        async def go() -> None:
            self.runner = web.AppRunner(self.app_factory(), access_log=None, shutdown_timeout=5)
            await self.runner.setup()
            await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

        self.loop.run(go())
        return self

    def stop(self) -> None:
        if self.runner is not None:
            self.loop.run(self.runner.cleanup())
            self.runner = None


@dataclass
class ChallengeReceiver:
    """Answers challenges according to the path; records every request it gets."""

    requests: list[tuple[str, dict]] = field(default_factory=list)
    slow_s: float = CHALLENGE_TIMEOUT + 2.0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append((request.path, body))
        mode = request.match_info["mode"]
        if mode == "echo-json":
            return web.json_response({"challenge": body["challenge"]})
        if mode == "echo-text":
            return web.Response(text=body["challenge"])
        if mode == "wrong":
            return web.json_response({"challenge": "not-the-challenge"})
        if mode == "status500":
            return web.Response(status=500, text=body["challenge"])
        if mode == "chat-ok":  # as Slack's incoming webhooks answer: 200 "ok", nothing echoed
            return web.Response(text="ok")
        if mode == "slow":
            await asyncio.sleep(self.slow_s)
            return web.json_response({"challenge": body["challenge"]})
        return web.Response(status=404)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/{mode}", self.handle)
        return app

    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]


def api_settings(bootstrap: str, prefix: str, **overrides: Any) -> Settings:
    """Settings of a test API: the session broker, the test's prefix, a token, a short challenge timeout."""
    values = dict(
        kafka_bootstrap=bootstrap, topic_prefix=prefix, api_token=TOKEN, allow_private_targets=True,
        api_challenge_timeout=CHALLENGE_TIMEOUT, api_max_body_bytes=16 * 1024,
    )
    return Settings(**{**values, **overrides})


def wait_ready(url: str, timeout: float = 90.0) -> None:
    """Wait until ``/readyz`` answers 200 (topics created, rules topic read)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = requests.get(f"{url}/readyz", timeout=5)
        if last.status_code == 200:
            return
        time.sleep(0.2)
    raise AssertionError(f"API not ready within {timeout} s: {last.text if last is not None else ''}")


def start_api(loop: LoopThread, settings: Settings, rules=None, **kwargs: Any) -> Served:
    served = Served(loop, lambda: build_app(settings, rules, **kwargs)).start()
    wait_ready(served.url)
    return served


def feed_records(settings: Settings) -> dict[str, SubscriptionRecord]:
    """The subscriptions as the rules topic holds them now (read from scratch)."""
    return asyncio.run(read_feed(settings, 30)).subscriptions


@dataclass
class Env:
    """One module-wide API (private targets allowed) with a challenge receiver."""

    loop: LoopThread
    settings: Settings
    api: Served
    receiver: ChallengeReceiver
    receiver_server: Served

    def hook(self, mode: str) -> str:
        return f"{self.receiver_server.url}/{mode}"

    def post(self, path: str, body: Any, headers: dict | None = None) -> requests.Response:
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return requests.post(f"{self.api.url}{path}", data=data, headers={**AUTH, "Content-Type": "application/json", **(headers or {})}, timeout=30)

    def get(self, path: str, headers: dict | None = None) -> requests.Response:
        return requests.get(f"{self.api.url}{path}", headers=AUTH if headers is None else headers, timeout=30)

    def delete(self, path: str) -> requests.Response:
        return requests.delete(f"{self.api.url}{path}", headers=AUTH, timeout=30)


@pytest.fixture(scope="module")
def env(kafka_bootstrap: str) -> Env:
    import uuid

    loop = LoopThread()
    settings = api_settings(kafka_bootstrap, f"t-{uuid.uuid4().hex[:8]}-")
    receiver = ChallengeReceiver()
    receiver_server = Served(loop, receiver.app).start()
    api = start_api(loop, settings, load_rule_text(RULES_YAML))
    yield Env(loop, settings, api, receiver, receiver_server)
    api.stop()
    receiver_server.stop()
    loop.close()


# --- authentication ---------------------------------------------------------------------------


def test_requests_without_the_token_are_refused_with_www_authenticate(env: Env) -> None:
    for method, path in [("GET", "/subscriptions"), ("POST", "/subscriptions"), ("GET", "/subscriptions/x"),
                         ("DELETE", "/subscriptions/x"), ("GET", "/subscriptions/x/deliveries"), ("POST", "/rules/test")]:
        missing = requests.request(method, f"{env.api.url}{path}", json={}, timeout=10)
        assert missing.status_code == 401, (method, path)
        assert missing.headers["WWW-Authenticate"].startswith("Bearer")
        wrong = requests.request(method, f"{env.api.url}{path}", json={}, headers={"Authorization": f"Bearer {TOKEN}x"}, timeout=10)
        assert wrong.status_code == 401
        assert 'error="invalid_token"' in wrong.headers["WWW-Authenticate"]
        basic = requests.request(method, f"{env.api.url}{path}", headers={"Authorization": f"Basic {TOKEN}"}, timeout=10)
        assert basic.status_code == 401


def test_operational_routes_need_no_token(env: Env) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
        assert requests.get(f"{env.api.url}{path}", timeout=10).status_code == 200, path


# --- creation and intent verification ---------------------------------------------------------


@pytest.mark.parametrize("mode", ["echo-json", "echo-text"])
def test_a_webhook_that_echoes_the_challenge_becomes_active(env: Env, mode: str) -> None:
    resp = env.post("/subscriptions", {"url": env.hook(mode), "rules": ["climate"], "queries": ["flood* AND Ohio"], "description": "d"})
    assert resp.status_code == 201, resp.text
    created = resp.json()
    assert created["status"] == "active" and created["reason"] is None
    assert resp.headers["Location"] == f"/subscriptions/{created['id']}"
    assert created["rules"] == ["climate"] and created["queries"] == ["flood* AND Ohio"]
    secret = created["secret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    # The challenge reached the webhook with the subscription id.
    path, body = env.receiver.requests[-1]
    assert path == f"/{mode}" and body["type"] == "subscription.verification" and body["subscription"] == created["id"]
    # Stored on the rules topic: active, second revision, the secret there (for the notifier).
    record = feed_records(env.settings)[created["id"]]
    assert (record.status, record.revision) == ("active", 2)
    assert record.subscriber.secret_values() == (secret,)
    assert [r.id for r in record.rules] == ["q1"] and record.rule_ids == ("climate",)
    # Never shown again.
    shown = env.get(f"/subscriptions/{created['id']}")
    assert shown.status_code == 200 and "secret" not in shown.json() and secret not in shown.text
    assert shown.json()["status"] == "active"
    listed = env.get("/subscriptions")
    assert created["id"] in [s["id"] for s in listed.json()["subscriptions"]] and secret not in listed.text


def test_rate_limit_and_digest_are_set_as_in_a_rule_file(env: Env) -> None:
    """``max_per_minute`` and ``digest`` reach the stored subscriber (which the notifier reads)
    and the views, exactly as a rule file's subscriber carries them."""
    resp = env.post("/subscriptions", {"url": env.hook("echo-json"), "queries": ["flood*"], "max_per_minute": 5, "digest": "15m"})
    assert resp.status_code == 201, resp.text
    created = resp.json()
    assert (created["max_per_minute"], created["digest"]) == (5, "15m")
    subscriber = feed_records(env.settings)[created["id"]].subscriber
    assert (subscriber.max_per_minute, subscriber.digest, subscriber.digest_seconds()) == (5, "15m", 900)
    limit = endpoint_of(created["id"], subscriber).limit  # what the notifier enforces
    assert limit is not None and (limit.max_per_minute, limit.digest_s) == (5, 900)
    shown = env.get(f"/subscriptions/{created['id']}").json()
    assert (shown["max_per_minute"], shown["digest"]) == (5, "15m")
    plain = env.post("/subscriptions", {"url": env.hook("echo-json"), "queries": ["flood*"]}).json()
    assert (plain["max_per_minute"], plain["digest"]) == (None, None)


def test_batch_max_is_set_as_in_a_rule_file(env: Env) -> None:
    """``batch_max`` reaches the stored subscriber, the notifier's endpoint and the views; out of
    range or with a chat format it is refused, naming the field."""
    created = env.post("/subscriptions", {"url": env.hook("echo-json"), "queries": ["flood*"], "batch_max": 50}).json()
    assert created["batch_max"] == 50 and env.get(f"/subscriptions/{created['id']}").json()["batch_max"] == 50
    subscriber = feed_records(env.settings)[created["id"]].subscriber
    assert subscriber.batch_max == 50 and endpoint_of(created["id"], subscriber).batch_max == 50
    for bad in ({"batch_max": 1}, {"batch_max": 1001}, {"batch_max": 5, "format": "slack"}):
        resp = env.post("/subscriptions", {"url": env.hook("echo-json"), "queries": ["flood*"], **bad})
        assert resp.status_code == 422 and "batch_max" in resp.text, resp.text


@pytest.mark.parametrize("fmt", ["slack", "teams", "discord"])
def test_a_chat_webhook_is_verified_by_a_2xx_to_a_notice_in_its_format(env: Env, fmt: str) -> None:
    resp = env.post("/subscriptions", {"url": env.hook("chat-ok"), "queries": ["flood*"], "format": fmt})
    assert resp.status_code == 201, resp.text
    created = resp.json()
    assert (created["status"], created["format"]) == ("active", fmt)
    _, notice = env.receiver.requests[-1]
    assert chat_format_of(notice) == fmt and created["id"] in gist(fmt, notice)
    subscriber = feed_records(env.settings)[created["id"]].subscriber
    assert subscriber.format == fmt and endpoint_of(created["id"], subscriber).format == fmt  # what the notifier sends
    refused = env.post("/subscriptions", {"url": env.hook("status500"), "queries": ["flood*"], "format": fmt}).json()
    assert refused["status"] == "pending" and "HTTP 500" in refused["reason"]
    standard = env.post("/subscriptions", {"url": env.hook("chat-ok"), "queries": ["flood*"]}).json()
    assert standard["status"] == "pending" and standard["format"] == "standard"  # a standard webhook must echo


@pytest.mark.parametrize(
    "mode, reason",
    [
        ("wrong", "without echoing the challenge"),
        ("status500", "HTTP 500"),
        ("slow", "timeout"),
        ("nowhere", "HTTP 404"),
    ],
)
def test_a_webhook_that_does_not_echo_stays_pending_with_the_reason(env: Env, mode: str, reason: str) -> None:
    started = time.monotonic()
    resp = env.post("/subscriptions", {"url": env.hook(mode), "queries": ["climate"]})
    assert resp.status_code == 201, resp.text
    created = resp.json()
    assert created["status"] == "pending"
    assert reason in created["reason"]
    if mode == "slow":
        assert time.monotonic() - started < CHALLENGE_TIMEOUT + 1.5, "the challenge timeout was not applied"
    record = feed_records(env.settings)[created["id"]]
    assert record.status == "pending" and reason in record.reason
    assert env.get(f"/subscriptions/{created['id']}").json()["reason"] == created["reason"]


def test_a_closed_port_leaves_the_subscription_pending_with_a_connection_error(env: Env) -> None:
    resp = env.post("/subscriptions", {"url": f"http://127.0.0.1:{free_port()}/hook", "queries": ["climate"]})
    assert resp.status_code == 201
    assert resp.json()["status"] == "pending" and "connection error" in resp.json()["reason"]


def test_the_ssrf_guard_refuses_the_challenge_to_loopback_without_the_allow_setting(kafka_bootstrap: str, topic_prefix: str) -> None:
    loop = LoopThread()
    receiver = ChallengeReceiver()
    receiver_server = Served(loop, receiver.app).start()
    api = start_api(loop, api_settings(kafka_bootstrap, topic_prefix, allow_private_targets=False))
    try:
        resp = requests.post(f"{api.url}/subscriptions", json={"url": f"{receiver_server.url}/echo-json", "queries": ["climate"]},
                             headers=AUTH, timeout=30)
        assert resp.status_code == 201, resp.text
        assert resp.json()["status"] == "pending"
        assert "refused by SSRF guard" in resp.json()["reason"] and "loopback" in resp.json()["reason"]
        assert receiver.requests == [], "the guard let the challenge through"
    finally:
        api.stop()
        receiver_server.stop()
        loop.close()


# --- validation -------------------------------------------------------------------------------


def _errors(resp: requests.Response) -> dict[str, dict]:
    return {e["field"]: e for e in resp.json()["errors"]}


def test_a_query_syntax_error_names_the_field_and_the_column(env: Env) -> None:
    resp = env.post("/subscriptions", {"url": env.hook("echo-json"), "queries": ["climate", "(flood OR"]})
    assert resp.status_code == 422
    error = _errors(resp)["queries[1]"]
    assert error["column"] >= 1 and error["message"]
    assert "queries[0]" not in _errors(resp)


def test_unknown_rule_ids_are_refused_by_position(env: Env) -> None:
    resp = env.post("/subscriptions", {"url": env.hook("echo-json"), "rules": ["climate", "nope"]})
    assert resp.status_code == 422
    assert set(_errors(resp)) == {"rules[1]"}


@pytest.mark.parametrize(
    "body, field",
    [
        ({"url": "ftp://example.org/x", "queries": ["a"]}, "url"),
        ({"url": "https://u:p@example.org/x", "queries": ["a"]}, "url"),
        ({"queries": ["a"]}, "url"),
        ({"url": "https://example.org/x"}, "<body>"),
        ({"url": "https://example.org/x", "queries": ["a"], "secret": "whsec_x"}, "secret"),
        ({"url": "https://example.org/x", "queries": [""]}, "queries[0]"),
        ({"url": "https://example.org/x", "rules": ["a", "a"]}, "<body>"),
        ({"url": "https://example.org/x", "queries": ["a"], "max_per_minute": 0}, "max_per_minute"),
        ({"url": "https://example.org/x", "queries": ["a"], "digest": "3 weeks"}, "digest"),
        ({"url": "https://example.org/x", "queries": ["a"], "digest": "2d"}, "digest"),
        ([1, 2], "<body>"),
    ],
)
def test_invalid_bodies_are_422_naming_the_field(env: Env, body: Any, field: str) -> None:
    resp = env.post("/subscriptions", body)
    assert resp.status_code == 422, resp.text
    assert field in _errors(resp)
    assert "u:p" not in resp.text


def test_not_json_is_400_with_the_position_and_too_large_is_413(env: Env) -> None:
    resp = env.post("/subscriptions", '{"url": "x",\n  oops}')
    assert resp.status_code == 400 and "line 2 column" in resp.json()["error"]
    big = env.post("/subscriptions", {"url": env.hook("echo-json"), "queries": ["a"], "description": "x" * 20_000})
    assert big.status_code == 413 and "16384" in big.json()["error"]


# --- reading and deleting ---------------------------------------------------------------------


def test_unknown_subscriptions_are_404(env: Env) -> None:
    for resp in (env.get("/subscriptions/sub_missing"), env.delete("/subscriptions/sub_missing"),
                 env.get("/subscriptions/sub_missing/deliveries")):
        assert resp.status_code == 404 and "sub_missing" in resp.json()["error"]


def test_delete_writes_a_tombstone_and_the_subscription_is_gone(env: Env) -> None:
    sub_id = env.post("/subscriptions", {"url": env.hook("echo-json"), "queries": ["climate"]}).json()["id"]
    assert sub_id in feed_records(env.settings)
    assert env.delete(f"/subscriptions/{sub_id}").status_code == 204
    assert env.get(f"/subscriptions/{sub_id}").status_code == 404
    assert sub_id not in [s["id"] for s in env.get("/subscriptions").json()["subscriptions"]]
    assert sub_id not in feed_records(env.settings)
    assert env.delete(f"/subscriptions/{sub_id}").status_code == 404


def test_a_restarted_api_reads_the_subscriptions_back_from_the_topic(env: Env) -> None:
    created = env.post("/subscriptions", {"url": env.hook("echo-json"), "queries": ["restart"]}).json()
    deleted = env.post("/subscriptions", {"url": env.hook("echo-json"), "queries": ["gone"]}).json()["id"]
    env.delete(f"/subscriptions/{deleted}")
    second = start_api(env.loop, env.settings, load_rule_text(RULES_YAML))
    try:
        shown = requests.get(f"{second.url}/subscriptions/{created['id']}", headers=AUTH, timeout=10)
        assert shown.status_code == 200
        assert {k: shown.json()[k] for k in ("status", "revision", "queries")} == {"status": "active", "revision": 2, "queries": ["restart"]}
        assert requests.get(f"{second.url}/subscriptions/{deleted}", headers=AUTH, timeout=10).status_code == 404
    finally:
        second.stop()


def test_deliveries_lists_the_attempts_recorded_for_the_subscriber(env: Env) -> None:
    sub_id = env.post("/subscriptions", {"url": env.hook("echo-json"), "queries": ["climate"]}).json()["id"]
    assert env.get(f"/subscriptions/{sub_id}/deliveries").json()["deliveries"] == []

    def attempt(subscriber: str, n: int) -> DeliveryAttempt:
        return DeliveryAttempt(subscriber=subscriber, webhook_id=f"msg_{n:04d}", attempt=1, outcome="delivered",
                               status_code=204, latency_ms=3.0, at="2026-01-01T00:00:00Z")

    async def publish() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=env.settings.kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for n, who in enumerate([sub_id, "someone-else", sub_id]):
                await producer.send_and_wait(env.settings.topic(ATTEMPTS_TOPIC), attempt(who, n).to_json(), key=who.encode())
        finally:
            await producer.stop()

    asyncio.run(publish())
    resp = env.get(f"/subscriptions/{sub_id}/deliveries")
    assert resp.status_code == 200
    body = resp.json()
    assert body["subscription"] == sub_id
    assert [d["webhook_id"] for d in body["deliveries"]] == ["msg_0000", "msg_0002"], body


# --- rules/test -------------------------------------------------------------------------------


def test_rules_test_matches_with_highlights_into_the_cleaned_text(env: Env) -> None:
    article = {"id": "a1", "title": "North Korea tests <b>missiles</b>", "body": "Pyongyang &amp; Seoul."}
    resp = env.post("/rules/test", {"query": '"North Korea" AND missile*', "article": article})
    assert resp.status_code == 200, resp.text
    result = resp.json()
    assert result["match"] is True
    title = "North Korea tests missiles"
    assert [(h["field"], h["text"]) for h in result["highlights"]] == [("title", "North Korea"), ("title", "missiles")]
    assert all(title[h["start"]:h["end"]] == h["text"] for h in result["highlights"])
    miss = env.post("/rules/test", {"query": "climate", "article": article})
    assert miss.json() == {"match": False, "highlights": []}


def test_rules_test_refuses_a_bad_query_with_its_column_and_a_bad_article_by_field(env: Env) -> None:
    resp = env.post("/rules/test", {"query": "missile AND", "article": {"id": "a"}})
    assert resp.status_code == 422
    error = _errors(resp)["query"]
    assert error["column"] >= 1
    no_id = env.post("/rules/test", {"query": "missile", "article": {"title": "x"}})
    assert no_id.status_code == 422 and "article.id" in _errors(no_id)


# --- the document and the process ---------------------------------------------------------------


def test_openapi_lists_exactly_the_served_routes(env: Env) -> None:
    doc = requests.get(f"{env.api.url}/openapi.json", timeout=10).json()
    documented = {(method.upper(), path) for path, ops in doc["paths"].items() for method in ops}
    assert documented == {(r.method, r.path) for r in ROUTES}
    post = doc["paths"]["/subscriptions"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/SubscriptionRequest")
    assert "secret" in doc["components"]["schemas"]["SubscriptionCreated"]["properties"]
    assert "secret" not in doc["components"]["schemas"]["SubscriptionView"]["properties"]


def test_metrics_count_answers_and_verifications(env: Env) -> None:
    env.get("/subscriptions/sub_metrics_probe")
    text = requests.get(f"{env.api.url}/metrics", timeout=10).text
    assert 'newsalert_api_requests_total{route="getSubscription",status="404"}' in text
    assert 'newsalert_api_verifications_total{result="verified"}' in text


def test_serve_api_refuses_to_start_without_a_token(tmp_path: Path) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSALERT_API_")}
    result = subprocess.run([newsalert_executable(), "serve", "api", "--port", str(free_port())],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 1
    assert "NEWSALERT_API_TOKEN is not set" in result.stderr and "NEWSALERT_API_ALLOW_NO_TOKEN" in result.stderr


# --- pure parts (no broker) -------------------------------------------------------------------


def test_judge_accepts_only_a_2xx_echo_of_the_exact_challenge() -> None:
    from newsalert.services.api.verification import judge

    assert judge(200, b'{"challenge": "abc", "ok": true}', "abc") is None
    assert judge(204, b"  abc\n", "abc") is None
    assert "without echoing" in judge(200, b'{"challenge": "abd"}', "abc")
    assert "without echoing" in judge(200, b'["abc"]', "abc")
    assert "without echoing" in judge(200, b"", "abc")
    assert "HTTP 302" in judge(302, b"abc", "abc")


def test_token_problem_refuses_a_missing_or_blank_token_unless_allowed() -> None:
    from newsalert.services.api.main import token_problem

    assert "not set" in token_problem(Settings(api_token=None, api_allow_no_token=False))
    assert token_problem(Settings(api_token=None, api_allow_no_token=True)) == ""
    assert "blank" in token_problem(Settings(api_token="  ", api_allow_no_token=True))
    assert token_problem(Settings(api_token="s3cret-token")) == ""


def test_field_paths_are_written_as_json_paths() -> None:
    from newsalert.services.api.bodies import field_path

    assert field_path(("queries", 1)) == "queries[1]"
    assert field_path(("article", "title")) == "article.title"
    assert field_path(()) == "<body>"
