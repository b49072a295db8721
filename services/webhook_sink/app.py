"""The demo webhook receiver as a library: ``create_app(...)`` builds the aiohttp application.

What a careful receiver does, in the order it does it:

1. ``POST /hooks/{subscriber}``: read the raw body (signatures cover the exact bytes);
2. verify the Standard Webhooks signature with that subscriber's secret(s): unknown subscriber
   -> 404, bad, stale or missing signature -> 401 (logged, counted as rejected);
3. read the body as ``newsalert.schemas.WebhookPayload`` (422 if it is not one; 400 if it names another
   subscriber than the URL), or as a Slack, Teams or Discord message for subscribers with a chat
   ``format`` (``newsalert.domain.chat.reading``; shown by its first line, recorded whole);
4. de-duplicate on ``webhook-id``: a repeat is answered 204 like the first (so the sender stops
   retrying) but counted as a duplicate;
5. print one readable line per alert and append a JSON line to the record file.

``GET /stats`` reports the counters and ``GET /healthz`` answers while the process is up. The
state is reachable as ``app[SINK_STATE]`` for in-process tests.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable, Mapping, Sequence

from aiohttp import web
from pydantic import ValidationError

from newsalert.domain.chat.reading import chat_format_of, gist
from newsalert.domain.delivery.signing import DEFAULT_TOLERANCE_S, HEADER_ID, HEADER_TIMESTAMP, Secret, SignatureError, verify
from newsalert.schemas import WebhookPayload, error_messages

log = logging.getLogger("newsalert.webhook_sink")

MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class ReceivedAlert:
    """One accepted POST."""

    webhook_id: str
    webhook_timestamp: str
    subscriber: str
    payload: WebhookPayload
    received_at: float
    duplicate: bool


@dataclass
class SinkState:
    """What the sink has seen; ``secrets`` None means signatures are not checked."""

    secrets: Mapping[str, Sequence[Secret]] | None
    tolerance: float = DEFAULT_TOLERANCE_S
    echo: Callable[[str], None] | None = None
    record: IO[str] | None = None
    received: list[ReceivedAlert] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)  # webhook-id -> times received
    per_rule: Counter = field(default_factory=Counter)  # rule id -> distinct alerts
    per_subscriber: Counter = field(default_factory=Counter)  # subscriber -> distinct alerts
    rejected: int = 0

    def stats(self) -> dict:
        """The counters served on ``/stats``."""
        distinct = len(self.counts)
        return {
            "received": len(self.received),
            "distinct": distinct,
            "duplicates": len(self.received) - distinct,
            "rejected": self.rejected,
            "verifying": self.secrets is not None,
            "per_rule": dict(sorted(self.per_rule.items())),
            "per_subscriber": dict(sorted(self.per_subscriber.items())),
        }


SINK_STATE = web.AppKey("sink_state", SinkState)


def create_app(
    secrets: Mapping[str, Sequence[Secret]] | None,
    record_path: Path | None = None,
    echo: Callable[[str], None] | None = print,
    tolerance: float = DEFAULT_TOLERANCE_S,
) -> web.Application:
    """The receiver application; ``secrets`` maps subscriber id -> its secret(s), or None to
    accept unsigned requests (then only the ``webhook-id`` header is required)."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[SINK_STATE] = SinkState(secrets=secrets, tolerance=tolerance, echo=echo)
    app.router.add_post("/hooks/{subscriber}", _receive)
    app.router.add_get("/stats", _stats)
    app.router.add_get("/healthz", _healthz)
    if record_path is not None:
        app.cleanup_ctx.append(_record_file(Path(record_path)))
    return app


def _record_file(path: Path):
    async def ctx(app: web.Application):
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            app[SINK_STATE].record = handle
            yield
            app[SINK_STATE].record = None

    return ctx


async def _receive(request: web.Request) -> web.Response:
    state = request.app[SINK_STATE]
    subscriber = request.match_info["subscriber"]
    body = await request.read()
    refusal = _check_signature(state, subscriber, request.headers, body)
    if refusal is not None:
        return refusal
    chat = _chat_message(body)
    if chat is not None:
        _accept_chat(state, subscriber, request.headers, *chat)
        return web.Response(status=204)
    try:
        payload = WebhookPayload.model_validate_json(body)
    except ValidationError as exc:
        return _problem(422, f"not a webhook payload: {'; '.join(error_messages(exc)[:5])}")
    if payload.subscriber != subscriber:
        return _problem(400, f"payload is for subscriber {payload.subscriber!r}, posted to {subscriber!r}")
    _accept(state, subscriber, request.headers, payload)
    return web.Response(status=204)


def _check_signature(state: SinkState, subscriber: str, headers: Mapping[str, str], body: bytes) -> web.Response | None:
    """None when the request may be accepted, else the refusal to answer."""
    if state.secrets is None:
        return None if headers.get(HEADER_ID) else _problem(400, "missing webhook-id header")
    secrets = state.secrets.get(subscriber)
    if secrets is None:
        state.rejected += 1
        log.warning("refused a POST for unknown subscriber %r", subscriber)
        return _problem(404, f"unknown subscriber {subscriber!r}")
    try:
        verify(secrets, headers, body, tolerance=state.tolerance)
    except SignatureError as exc:
        state.rejected += 1
        log.warning("refused a POST for %s (webhook-id %s): bad signature: %s", subscriber, headers.get(HEADER_ID), exc)
        return _problem(401, f"signature refused: {exc}")
    return None


def _accept(state: SinkState, subscriber: str, headers: Mapping[str, str], payload: WebhookPayload) -> None:
    """Count, print and record one verified alert."""
    webhook_id = headers[HEADER_ID]
    duplicate = webhook_id in state.counts
    state.counts[webhook_id] += 1
    if not duplicate:
        state.per_rule[payload.rule.id] += 1
        state.per_subscriber[subscriber] += 1
    item = ReceivedAlert(webhook_id, headers.get(HEADER_TIMESTAMP, ""), subscriber, payload, time.time(), duplicate)
    state.received.append(item)
    if state.echo is not None:
        state.echo(alert_line(item))
    if state.record is not None:
        state.record.write(record_line(item) + "\n")
        state.record.flush()  # readers (the demo, tests) poll the file while the sink runs


def _chat_message(body: bytes) -> tuple[str, dict] | None:
    """(format, message) when ``body`` is a chat message, else None."""
    try:
        message = json.loads(body)
    except ValueError:
        return None
    fmt = chat_format_of(message)
    return None if fmt is None else (fmt, message)


def _accept_chat(state: SinkState, subscriber: str, headers: Mapping[str, str], fmt: str, message: dict) -> None:
    """Count, print and record one verified chat message (no rule id to count it under)."""
    webhook_id = headers[HEADER_ID]
    duplicate = webhook_id in state.counts
    state.counts[webhook_id] += 1
    if not duplicate:
        state.per_subscriber[subscriber] += 1
    if state.echo is not None:
        state.echo(f"chat  -> {subscriber:<14} {fmt:<8} {gist(fmt, message)[:160]!r}{'  (duplicate)' if duplicate else ''}")
    if state.record is not None:
        line = {"webhook_id": webhook_id, "webhook_timestamp": headers.get(HEADER_TIMESTAMP, ""), "subscriber": subscriber,
                "duplicate": duplicate, "received_at": time.time(), "format": fmt, "message": message}
        state.record.write(json.dumps(line, ensure_ascii=False) + "\n")
        state.record.flush()


def alert_line(item: ReceivedAlert) -> str:
    """One readable line: subscriber, rule, title and the highlighted terms."""
    terms: list[str] = []
    for highlight in item.payload.highlights:
        if highlight.text not in terms:
            terms.append(highlight.text)
    title = item.payload.article.title or item.payload.article.id
    marker = "  (duplicate)" if item.duplicate else ""
    return f"alert -> {item.subscriber:<14} rule {item.payload.rule.id:<20} {title!r}  terms: {', '.join(terms) or '-'}{marker}"


def record_line(item: ReceivedAlert) -> str:
    """The JSON line appended to the record file."""
    return json.dumps(
        {
            "webhook_id": item.webhook_id,
            "webhook_timestamp": item.webhook_timestamp,
            "subscriber": item.subscriber,
            "duplicate": item.duplicate,
            "received_at": item.received_at,
            "payload": item.payload.model_dump(mode="json"),
        },
        ensure_ascii=False,
    )


async def _stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[SINK_STATE].stats())


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def _problem(status: int, detail: str) -> web.Response:
    return web.json_response({"error": detail}, status=status)
