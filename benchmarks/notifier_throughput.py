"""How many alerts per second one notifier delivers, against what HTTP and Kafka allow in the same run.

    .venv/bin/python benchmarks/notifier_throughput.py --alerts 20000 --subscribers 50
    .venv/bin/python benchmarks/notifier_throughput.py --profile notifier.txt   # py-spy raw stacks
    .venv/bin/python benchmarks/notifier_throughput.py --no-references          # the notifier only

Pre-produces ``--alerts`` alerts (keys spread over ``--subscribers`` subscribers) to ``matches``
under a fresh topic prefix. Then, in this order and in this process: the raw HTTP reference (a bare
aiohttp client POSTing the same alerts, signed, 64 in flight), the bare relay (an aiokafka consumer
draining the same records, signing and POSTing them, committing per batch; ``references.py``), and
one notifier (``NotifierProcess``: the real signing, attempt records, claims and commits), timed
until the receiver has verified every alert. The receiver is ``bench_receiver.py`` in its own
process (it verifies every signature), so its CPU is not counted. The matcher is left out.
Printed: each rate and the notifier's ratio to the raw HTTP rate and to the bare relay's.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import os
import shutil
import subprocess
import tempfile
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT), str(BENCH)]

import aiohttp  # noqa: E402
from pydantic import SecretStr  # noqa: E402

import references  # noqa: E402
from newsalert.adapters.processes import free_port  # noqa: E402
from newsalert.adapters.topics import ensure_topics  # noqa: E402
from newsalert.config import get_settings  # noqa: E402
from newsalert.domain.delivery.endpoints import Endpoint  # noqa: E402
from newsalert.services.notifier.main import NotifierProcess  # noqa: E402
from pipeline_bench import delete_topics  # noqa: E402
from references import make_alerts, prefill  # noqa: E402

try:  # the notifier's own process set-up; absent before it existed (to bench an older checkout)
    from newsalert.services.notifier.main import tune_gc  # noqa: E402
except ImportError:  # pragma: no cover
    tune_gc = gc.collect

SECRET = "whsec_" + base64.b64encode(b"benchmark signing key, 32 bytes!").decode()


def write_rules(path: Path, subscribers: int) -> dict:
    """A rule file for ``bench_receiver.py``: the subscribers with the benchmark's secret; their secrets."""
    lines = ["subscribers:"]
    for i in range(subscribers):
        lines += [f"  - id: sub-{i:03d}", f"    url: http://127.0.0.1:9/hooks/sub-{i:03d}", f"    secret: {SECRET}"]
    lines += ["rules:", "  - id: r-missiles", "    query: missiles", "    notify: [sub-000]"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {f"sub-{i:03d}": (SecretStr(SECRET),) for i in range(subscribers)}


async def received(session: aiohttp.ClientSession, port: int) -> int:
    """Requests the receiver verified so far (repeats included)."""
    async with session.get(f"http://127.0.0.1:{port}/stats") as resp:
        return (await resp.json())["received"]


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
    port, workdir = free_port(), Path(tempfile.mkdtemp(prefix="nbench-"))
    secrets = write_rules(workdir / "rules.yaml", args.subscribers)
    receiver = subprocess.Popen([sys.executable, str(BENCH / "bench_receiver.py"), "--rules", str(workdir / "rules.yaml"),
                                 "--port", str(port), "--out", str(workdir / "received.tsv")])
    spy, out = None, {}
    base = f"http://127.0.0.1:{port}"
    try:
        await ensure_topics(settings)
        alerts = make_alerts(args.alerts, args.subscribers)
        await prefill(settings, alerts)
        async with aiohttp.ClientSession() as session:
            await wait_receiver(session, port)
            if args.references:
                out["raw_http"] = await references.raw_http(base, secrets, alerts)
                out["bare_relay"] = await references.bare_relay(settings, base, secrets, len(alerts))
            del alerts  # not the notifier's: kept, they would make every full collection of this process slow
            if args.gc_tuning:
                tune_gc()  # as `newsalert serve notifier` does
            else:
                gc.collect()
            endpoints = {sid: Endpoint(sid, f"{base}/hooks/{sid}", sec) for sid, sec in secrets.items()}
            before = await received(session, port)
            process = NotifierProcess(settings, endpoints)
            started, gc_clock = time.perf_counter(), GcClock()
            task = asyncio.create_task(process.run())
            if args.profile:
                spy = subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(os.getpid()), "--format", "raw",
                                        "--rate", "200", "-o", args.profile, "--duration", str(args.profile_seconds)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            count, deadline, first = 0, started + args.timeout, None
            while count < args.alerts and time.perf_counter() < deadline and not task.done():
                await asyncio.sleep(0.2)  # each poll is a request this process makes too: not too often
                count = await received(session, port) - before
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
        shutil.rmtree(workdir, ignore_errors=True)
        await delete_topics(settings.kafka_bootstrap, settings.topic_prefix)  # this run's topics only
    flowing = elapsed - (first[0] - started) if first else float("nan")
    rate = (count - first[1]) / flowing if first and flowing > 0 else 0.0
    cpu_per_alert = (cpu_end - first[2]) / (count - first[1]) if first and count > first[1] else float("nan")
    out["notifier"] = {"alerts": count, "seconds": elapsed, "flowing_s": flowing, "alerts_per_s": rate,
                       "cpu_us_per_alert": cpu_per_alert * 1e6, "gc_s": gc_clock.seconds, "gc_runs": gc_clock.collections,
                       "gc_by_gen": gc_clock.by_generation, "cpu_share": (cpu_end - first[2]) / flowing if first else 0.0}
    return out


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=20000)
    parser.add_argument("--subscribers", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=300.0, help="give up after this many seconds")
    parser.add_argument("--profile", help="write a py-spy raw (collapsed stacks) profile here")
    parser.add_argument("--profile-seconds", type=int, default=15)
    parser.add_argument("--no-gc-tuning", dest="gc_tuning", action="store_false",
                        help="keep the interpreter's default garbage collector settings")
    parser.add_argument("--no-references", dest="references", action="store_false",
                        help="skip the raw HTTP and bare relay phases")
    args = parser.parse_args()
    import logging

    logging.basicConfig(level=logging.WARNING)
    results = asyncio.run(bench(args))
    result = results["notifier"]
    print(f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for name in ("raw_http", "bare_relay"):
        if name in results:
            ref = results[name]
            print(f"{name}: {ref['count']} in {ref['seconds']:.1f} s = {ref['per_s']:.0f}/s "
                  f"({ref['cpu_s'] / ref['count'] * 1e6:.0f} µs CPU each, {ref.get('failed', 0)} failed)")
    print(f"one notifier: {result['alerts']} alerts to {args.subscribers} subscribers in {result['seconds']:.1f} s "
          f"(group join included); {result['alerts_per_s']:.0f} alerts/s from the first receipt to the last; "
          f"{result['cpu_us_per_alert']:.0f} µs CPU per alert, {result['cpu_share']:.0%} of a core; "
          f"garbage collector {result['gc_s']:.2f} s in {result['gc_runs']} runs "
          f"(by generation {', '.join(f'{g:.2f}' for g in result['gc_by_gen'])} s)")
    for name in ("raw_http", "bare_relay"):
        if name in results:
            print(f"notifier / {name}: {result['alerts_per_s'] / results[name]['per_s']:.2f}")


if __name__ == "__main__":
    main()
