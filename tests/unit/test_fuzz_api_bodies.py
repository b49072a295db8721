"""Fuzzing the subscription API's request bodies and a webhook's answer to its challenge: random
bytes, invalid UTF-8, JSON nested 100,000 deep and random JSON give a 400 or 422 naming what was
wrong (never a 500), and an answer nested too deeply is not taken as the echo.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsalert.schemas.api import SubscriptionRequest
from newsalert.services.api.bodies import Refused, read_model
from newsalert.services.api.verification import judge

DEEP = [b"[" * 100_000 + b"]" * 100_000, b'{"url":' * 50_000 + b"1" + b"}" * 50_000]
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                           max_leaves=12)
bodies = st.one_of(st.binary(max_size=300), st.sampled_from(DEEP + [b"", b"\xff\xfe"]), json_values.map(lambda v: json.dumps(v).encode()),
                   st.binary(max_size=30).map(lambda b: b'{"url": "\xff' + b))
STATUSES: Counter = Counter()


async def _handler(request: web.Request) -> web.Response:
    try:
        await read_model(request, SubscriptionRequest, 10_000_000)
    except Refused as exc:
        return exc.response()
    return web.json_response({}, status=201)


async def _post(body: bytes) -> tuple[int, dict]:
    app = web.Application()
    app.router.add_post("/subscriptions", _handler)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        resp = await client.post("/subscriptions", data=body)
        return resp.status, await resp.json()


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies)
def test_random_bodies_get_a_400_or_422_naming_the_problem(body: bytes) -> None:
    status, answer = asyncio.run(_post(body))
    assert status in (400, 422) and answer["error"], (body[:40], status, answer)
    STATUSES[status] += 1


def test_deep_bodies_and_answers() -> None:
    for deep in DEEP:
        status, answer = asyncio.run(_post(deep))
        assert status == 400 and "nested too deeply" in answer["error"]
        assert "without echoing" in judge(200, deep, "abc")
    print(f"\napi body fuzz: {sum(STATUSES.values())} random bodies, answers {dict(sorted(STATUSES.items()))}")
