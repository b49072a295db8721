"""The end-to-end benchmark's webhook receiver: verifies every signature and timestamps receipt.

    .venv/bin/python benchmarks/bench_receiver.py --rules RULES.yaml --port 8999 --out received.tsv

A separate process (so its CPU is measured apart from the pipeline's), deliberately lean: for
each ``POST /hooks/<subscriber>`` it reads the body, verifies the Standard Webhooks signature
with that subscriber's secret(s) from the rule file (``newsalert.domain.delivery.signing.verify``,
the same code as the demo sink), takes the article id from the JSON body and appends one line
``received_at<TAB>webhook-id<TAB>article-id`` to ``--out`` (for a batch or digest, one line per
alert it lists, with the alert's id) (``received_at`` is ``time.time()`` when
the body was read). Lines are buffered and written every 100 ms. A bad signature is answered
401 and counted; ``GET /stats`` returns the counters (alerts received, requests, rejected), ``GET /healthz`` answers while up.

The demo sink (``newsalert serve webhook-sink --record``) also validates every payload with
pydantic, keeps each one in memory and prints a line per alert; at thousands of alerts per
second that would measure the sink rather than the pipeline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from newsalert.domain.delivery.signing import SignatureError, verify  # noqa: E402
from newsalert.adapters.rule_files import load_rule_file  # noqa: E402
from newsalert.domain.delivery.endpoints import endpoints_from_subscribers  # noqa: E402

FLUSH_EVERY_S = 0.1
STATE = web.AppKey("state", dict)


def load_secrets(rules: Path) -> dict:
    """Subscriber id -> its secrets, from the rule file."""
    ruleset = load_rule_file(rules)
    return {sid: ep.secrets for sid, ep in endpoints_from_subscribers(ruleset.subscribers).items()}


async def receive(request: web.Request) -> web.Response:
    """Verify, timestamp and buffer one alert."""
    state = request.app[STATE]
    body = await request.read()
    received_at = time.time()
    secrets = state["secrets"].get(request.match_info["subscriber"])
    if secrets is None:
        state["rejected"] += 1
        return web.Response(status=404)
    try:
        verify(secrets, request.headers, body)
    except SignatureError:
        state["rejected"] += 1
        return web.Response(status=401)
    event = json.loads(body)
    # A batch or digest lists alerts: one line per alert, under the alert's own id.
    for alert in event["alerts"] if event.get("type") in ("batch", "digest") else [event]:
        state["buffer"].append(f"{received_at:.6f}\t{alert['webhook_id']}\t{alert['article']['id']}\n")
        state["received"] += 1
    state["requests"] += 1
    return web.Response(status=204)


async def stats(request: web.Request) -> web.Response:
    """The counters: received (verified) and rejected requests."""
    state = request.app[STATE]
    return web.json_response({"received": state["received"], "requests": state["requests"], "rejected": state["rejected"]})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_app(secrets: dict, out: Path) -> web.Application:
    """The receiver application, writing its lines to ``out``."""
    app = web.Application(client_max_size=1024 * 1024)
    app[STATE] = {"secrets": secrets, "buffer": [], "received": 0, "requests": 0, "rejected": 0}
    app.router.add_post("/hooks/{subscriber}", receive)
    app.router.add_get("/stats", stats)
    app.router.add_get("/healthz", healthz)

    async def writer(app: web.Application):
        handle = out.open("a", encoding="utf-8")

        async def flush_forever() -> None:
            while True:
                await asyncio.sleep(FLUSH_EVERY_S)
                flush(app[STATE], handle)

        task = asyncio.create_task(flush_forever())
        yield
        task.cancel()
        flush(app[STATE], handle)
        handle.close()

    app.cleanup_ctx.append(writer)
    return app


def flush(state: dict, handle) -> None:
    """Write the buffered lines."""
    if state["buffer"]:
        lines, state["buffer"] = state["buffer"], []
        handle.write("".join(lines))
        handle.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rules", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    app = create_app(load_secrets(args.rules), args.out)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
