"""Intent verification of a new subscription: the webhook must echo a random challenge
(as W3C WebSub and Slack do); a chat-format webhook, which cannot echo, gets a notice instead.

The challenge goes through the same SSRF-guarded connector as every webhook POST. Protocol and
failure reasons: ``docs/api.md``. ``judge`` is the pure decision on an answer; ``send_challenge``
does the one request.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from dataclasses import dataclass

import aiohttp

from newsalert.adapters.http_guard import blocked_reason
from newsalert.domain.chat import chat_notice
from newsalert.schemas._common import truncate
from newsalert.schemas.rules_feed import REASON_MAX

CHALLENGE_TYPE = "subscription.verification"
"""The ``type`` of the challenge body."""
ANSWER_MAX_BYTES = 4_096
"""Most bytes of the answer read: an echo is short, a longer answer is not an echo."""
USER_AGENT = "newsalert-api/0.1 (intent verification)"


@dataclass(frozen=True)
class Verification:
    """The outcome of one challenge: verified, or the reason it was not."""

    verified: bool
    reason: str | None = None
    status_code: int | None = None
    latency_ms: float = 0.0


def new_challenge() -> str:
    """A fresh unguessable challenge (URL-safe, 43 characters)."""
    return secrets.token_urlsafe(32)


def challenge_body(subscription_id: str, challenge: str) -> bytes:
    """The JSON body POSTed to the webhook."""
    return json.dumps({"type": CHALLENGE_TYPE, "subscription": subscription_id, "challenge": challenge}).encode()


def judge(status: int, answer: bytes, challenge: str) -> str | None:
    """None when the answer echoes ``challenge``; otherwise why it does not."""
    if not 200 <= status < 300:
        return f"the webhook answered HTTP {status} instead of 2xx with the challenge"
    if _echoed(answer, challenge):
        return None
    return (
        "the webhook answered without echoing the challenge "
        '(expected {"challenge": "<value>"} or the value as the whole body)'
    )


def judge_chat(status: int) -> str | None:
    """None when a chat webhook took the notice (2xx); otherwise why not."""
    return None if 200 <= status < 300 else f"the chat webhook answered HTTP {status} to the notice instead of 2xx"


def _echoed(answer: bytes, challenge: str) -> bool:
    """True when ``answer`` is ``{"challenge": challenge}`` (other keys allowed) or the bare value."""
    text = answer.decode("utf-8", errors="replace").strip()
    if text == challenge:
        return True
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return False
    return isinstance(value, dict) and value.get("challenge") == challenge


def notice_text(subscription_id: str) -> str:
    """The text of a chat subscriber's verification notice."""
    return f"newsalert: alerts of subscription {subscription_id} will be posted to this channel."


async def send_challenge(
    session: aiohttp.ClientSession, url: str, subscription_id: str, challenge: str, timeout_s: float, fmt: str = "standard"
) -> Verification:
    """POST the challenge to ``url`` through ``session`` (which must be SSRF-guarded) and judge it.

    Never raises for a failure of the endpoint: every failure is a ``Verification`` with a reason.
    """
    started = time.perf_counter()
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    try:
        async with asyncio.timeout(timeout_s):
            body = challenge_body(subscription_id, challenge) if fmt == "standard" else chat_notice(fmt, notice_text(subscription_id))
            async with session.post(url, data=body, headers=headers, allow_redirects=False) as resp:
                answer = await resp.content.read(ANSWER_MAX_BYTES)
                status = resp.status
    except TimeoutError:
        return _failed(f"timeout: no answer within {timeout_s:g} s", started)
    except (aiohttp.ClientError, OSError) as exc:
        blocked = blocked_reason(exc)
        if blocked is not None:
            return _failed(blocked, started)
        return _failed(f"connection error: {_describe(exc)}", started)
    reason = judge(status, answer, challenge) if fmt == "standard" else judge_chat(status)
    latency = (time.perf_counter() - started) * 1000
    return Verification(reason is None, _clip(reason), status, latency)


def _failed(reason: str, started: float) -> Verification:
    return Verification(False, _clip(reason), None, (time.perf_counter() - started) * 1000)


def _describe(exc: BaseException) -> str:
    """A short description of a connection failure that never repeats the URL (it may hold a token)."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect ({exc.os_error.strerror or type(exc.os_error).__name__})"
    return type(exc).__name__


def _clip(reason: str | None) -> str | None:
    return None if reason is None else truncate(reason, REASON_MAX)
