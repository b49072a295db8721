"""How many alerts per second one notifier delivers: a standalone micro-benchmark (issue 7).

    .venv/bin/python benchmarks/notifier_throughput.py --alerts 20000 --subscribers 50
    .venv/bin/python benchmarks/notifier_throughput.py --profile notifier.txt   # py-spy top functions

Pre-produces ``--alerts`` alerts (keys spread over ``--subscribers`` subscribers) to ``matches``
under a fresh topic prefix, then starts one notifier in this process (``NotifierProcess``, the
real signing, attempt records and commit machinery) and times it until a receiver has seen every
alert. The receiver is a separate process (this script with ``--receiver PORT``) answering 204 to
every POST and counting distinct ``webhook-id`` headers, so its CPU is not the notifier's.
Unlike ``pipeline_bench.py`` the matcher is left out: the figure is the notifier's own drain rate.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402
from pydantic import SecretStr  # noqa: E402

from newsalert.domain.alerts import new_alert
from newsalert.adapters.broker import KafkaPublisher, Record  # noqa: E402
from newsalert.adapters.processes import free_port  # noqa: E402
from newsalert.adapters.topics import ensure_topics  # noqa: E402
from newsalert.config import Settings, get_settings  # noqa: E402
from newsalert.domain.dedup import story_fingerprints  # noqa: E402
from newsalert.schemas import Alert, Article, Highlight  # noqa: E402
from newsalert.schemas.dedup import DEDUP_HEADER  # noqa: E402
from newsalert.domain.delivery.endpoints import Endpoint  # noqa: E402
from newsalert.services.notifier.main import NotifierProcess  # noqa: E402

try:  # the notifier's own process set-up; absent before it existed (to bench an older checkout)
    from newsalert.services.notifier.main import tune_gc  # noqa: E402
except ImportError:  # pragma: no cover
    tune_gc = gc.collect

SECRET = "whsec_" + base64.b64encode(b"benchmark signing key, 32 bytes!").decode()


# -- receiver (child process) ------------------------------------------------------------------
def serve_receiver(port: int) -> None:
    """Answer 204 to every POST; ``GET /stats`` gives the number of distinct webhook ids seen."""
    seen: set[str] = set()

    async def hook(request: web.Request) -> web.Response:
        await request.read()
        seen.add(request.headers.get("webhook-id", ""))
        return web.Response(status=204)

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({"distinct": len(seen)})

    app = web.Application()
    app.router.add_post("/hooks/{subscriber}", hook)
    app.router.add_get("/stats", stats)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


# -- notifier side ----------------------------------------------------------------------------
def make_alerts(count: int, subscribers: int) -> list[Alert]:
    """``count`` alerts of realistic size, round-robin over the subscribers."""
    body = "<p>" + "North Korea fired missiles into the sea on Tuesday, officials said. " * 8 + "</p>"
    alerts = []
    for n in range(count):
        article = Article(id=f"a-{n:07d}", title=f"Missiles test number {n}", body=body, url=f"https://news.example/{n}",
                          source="Example News", published="2024-01-02T03:04:05Z")
        highlights = [Highlight(field="title", text="Missiles", start=0, end=8)]
        alerts.append(new_alert(article, "r-missiles", "North Korea AND missiles", f"sub-{n % subscribers:03d}",
                                   highlights, ruleset_version="bench"))
    return alerts


async def produce(settings: Settings, alerts: list[Alert]) -> None:
    """Publish the alerts to ``matches`` (keyed by subscriber), acknowledged."""
    publisher = KafkaPublisher(settings, client_id="notifier-bench-producer")
    await publisher.start()
    try:
        topic = settings.topic("matches")
        for start in range(0, len(alerts), 2000):
            chunk = alerts[start:start + 2000]
            # With story fingerprints, as the matcher sends them: the notifier's de-duplication runs.
            await publisher.publish_many([Record(topic, a.to_json(), a.subscriber.encode(), headers=fingerprint_header(a))
                                          for a in chunk])
    finally:
        await publisher.stop()


def fingerprint_header(alert: Alert) -> tuple:
    """The ``newsalert-dedup`` header the matcher would put on ``alert``."""
    prints = story_fingerprints(alert.article.id, alert.article.url, alert.article.title, alert.article.excerpt)
    return ((DEDUP_HEADER, json.dumps(prints).encode()),)


async def received(session: aiohttp.ClientSession, port: int) -> int:
    async with session.get(f"http://127.0.0.1:{port}/stats") as resp:
        return (await resp.json())["distinct"]


async def wait_receiver(session: aiohttp.ClientSession, port: int) -> None:
    for _ in range(100):
        try:
            await received(session, port)
            return
        except aiohttp.ClientError:
            await asyncio.sleep(0.1)
    raise RuntimeError("the receiver did not start")


async def bench(args: argparse.Namespace) -> dict:
    settings = get_settings().model_copy(update={
        "topic_prefix": f"nbench-{uuid.uuid4().hex[:8]}.", "allow_private_targets": True,
        "notifier_commit_interval": 1.0,
    })
    port = free_port()
    receiver = subprocess.Popen([sys.executable, __file__, "--receiver", str(port)])
    spy = None
    try:
        await ensure_topics(settings)
        alerts = make_alerts(args.alerts, args.subscribers)
        await produce(settings, alerts)
        del alerts  # not the notifier's: kept, they would make every full collection of this process slow
        if args.gc_tuning:
            tune_gc()  # as `newsalert serve notifier` does
        else:
            gc.collect()
        endpoints = {f"sub-{i:03d}": Endpoint(f"sub-{i:03d}", f"http://127.0.0.1:{port}/hooks/sub-{i:03d}", (SecretStr(SECRET),))
                     for i in range(args.subscribers)}
        async with aiohttp.ClientSession() as session:
            await wait_receiver(session, port)
            process = NotifierProcess(settings, endpoints)
            started, gc_clock = time.perf_counter(), GcClock()
            task = asyncio.create_task(process.run())
            if args.profile:
                spy = subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(_pid()), "--format", "raw", "--rate", "200",
                                        "-o", args.profile, "--duration", str(args.profile_seconds)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            count, deadline, first = 0, started + args.timeout, None
            while count < args.alerts and time.perf_counter() < deadline and not task.done():
                await asyncio.sleep(0.2)  # each poll is a request this process makes too: not too often
                count = await received(session, port)
                if first is None and count:
                    first = (time.perf_counter(), count, _cpu())  # joining the group is over: the rate starts here
            elapsed, cpu_end = time.perf_counter() - started, _cpu()
            process.stop()
            await task
    finally:
        receiver.terminate()
        receiver.wait()
        if spy is not None:
            spy.wait()
    flowing = elapsed - (first[0] - started) if first else float("nan")
    rate = (count - first[1]) / flowing if first and flowing > 0 else 0.0
    cpu_per_alert = (cpu_end - first[2]) / (count - first[1]) if first and count > first[1] else float("nan")
    return {"alerts": count, "seconds": elapsed, "flowing_s": flowing, "alerts_per_s": rate,
            "cpu_us_per_alert": cpu_per_alert * 1e6, "gc_s": gc_clock.seconds, "gc_runs": gc_clock.collections, "gc_by_gen": gc_clock.by_generation, "cpu_share": (cpu_end - first[2]) / flowing if first else 0.0}


class GcClock:
    """Seconds spent in the garbage collector (``gc.callbacks``): the notifier allocates many
    short-lived objects per alert, and collection time shows in no profile frame of its own."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = 0
        self.by_generation = [0.0, 0.0, 0.0]
        self._start = 0.0
        gc.callbacks.append(self._tick)

    def _tick(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            spent = time.perf_counter() - self._start
            self.seconds += spent
            self.by_generation[info["generation"]] += spent
            self.collections += 1


def _cpu() -> float:
    """CPU seconds (user + system) this process used so far: the notifier's, as it runs here."""
    t = os.times()
    return t.user + t.system


def _pid() -> int:
    return os.getpid()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=20000)
    parser.add_argument("--subscribers", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=300.0, help="give up after this many seconds")
    parser.add_argument("--profile", help="write a py-spy raw (collapsed stacks) profile here")
    parser.add_argument("--profile-seconds", type=int, default=15)
    parser.add_argument("--no-gc-tuning", dest="gc_tuning", action="store_false",
                        help="keep the interpreter's default garbage collector settings")
    parser.add_argument("--receiver", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        serve_receiver(args.receiver)
        return
    import logging

    logging.basicConfig(level=logging.WARNING)
    result = asyncio.run(bench(args))
    print(f"one notifier: {result['alerts']} alerts to {args.subscribers} subscribers in {result['seconds']:.1f} s "
          f"(group join included); {result['alerts_per_s']:.0f} alerts/s from the first receipt to the last; "
          f"{result['cpu_us_per_alert']:.0f} µs CPU per alert, {result['cpu_share']:.0%} of a core; "
          f"garbage collector {result['gc_s']:.2f} s in {result['gc_runs']} runs "
          f"(by generation {', '.join(f'{g:.2f}' for g in result['gc_by_gen'])} s)")


if __name__ == "__main__":
    main()
