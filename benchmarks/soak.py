"""Chaos soak: the whole pipeline under faults, then a verdict on every alert.

    make soak                                           # 10 minutes, writes docs/reliability.md + docs/soak.png
    .venv/bin/python benchmarks/soak.py --minutes 2 --report /tmp/r.md --plot /tmp/soak.png

What runs: a Kafka broker of its own (own NEWSALERT_HOME and ports, the shared jar cache; never
the shared broker, since it is stopped on purpose), 2 matchers, 2 notifiers and ingest as child
processes (``newsalert serve``), supervised by this script (a dead one is started again within a
second, as a process manager would), and receivers that verify every signature. A feeder POSTs
generated articles to ingest at ``--rate`` per second (a 503 while the broker is away is retried,
as a client should); ``--rules`` single-word rules each notify one of five subscribers.

Faults at random times (``--seed``): ``kill -9`` of a matcher or a notifier (about one a minute,
at least two), the broker stopped for 20 s and started again (one per five minutes, at least
one), and one subscriber's endpoint failing for a minute: 20 s of 500s, 20 s of timeouts, 20 s of
refused connections. The retry schedule is shortened (``SOAK_ENV``) so the drain is minutes, not
hours; no endpoint is meant to die, so no alert may be dead-lettered.

After feeding, the script waits for the drain (``--drain`` s at most), then compares the
deliveries with what ``newsalert match`` computes offline for every accepted article
(de-duplication off): every expected alert delivered at least once, none unexpected, duplicates
counted, zero dead letters, zero bad signatures. It writes the soak section of ``--report``
(faults with their times, the counts, the longest delay) and ``--plot`` (delivery delay over time
with the faults marked), and exits 1 when the verdict fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from aiohttp import web  # noqa: E402
from aiokafka import AIOKafkaConsumer  # noqa: E402
from standardwebhooks import Webhook  # noqa: E402

from newsalert.adapters import local_kafka  # noqa: E402
from newsalert.adapters.processes import ServiceProcess, free_port, newsalert_executable  # noqa: E402
from newsalert.config import Settings  # noqa: E402
from newsalert.domain.delivery.ids import webhook_id  # noqa: E402

SUBSCRIBERS = ["desk0", "desk1", "desk2", "desk3", "flaky"]
SECRET = "whsec_c29hay10ZXN0LXNlY3JldC0wMTIzNDU2Nzg5YWJj"
PREFIX = "soak-"
SOAK_ENV = {
    "NEWSALERT_TOPIC_PREFIX": PREFIX,
    "NEWSALERT_ALLOW_PRIVATE_TARGETS": "true",
    "NEWSALERT_DEDUP_WINDOW": "0",
    "NEWSALERT_RETRY_SCHEDULE": "2,5,10,20,30,60,60,60",  # ~4 min of retries: outlives the endpoint's minute
    "NEWSALERT_RETRY_THROTTLE_FLOOR": "5",
    "NEWSALERT_WEBHOOK_TIMEOUT": "3",
    "NEWSALERT_BREAKER_COOLDOWN": "5",
    "NEWSALERT_BREAKER_COOLDOWN_MAX": "20",
    "NEWSALERT_CONSUMER_SESSION_TIMEOUT": "6",
}
SYLLABLES = ["ka", "lo", "mi", "ru", "te", "so", "na", "vi", "de", "po", "zu", "fe", "ga", "hi", "jo", "qu"]
MARK_START, MARK_END = "<!-- soak:start -->", "<!-- soak:end -->"


def word(i: int) -> str:
    """A made-up word per index (letters only, so every tokenizer keeps it whole)."""
    return "".join(SYLLABLES[(i >> shift) & 15] for shift in (0, 4, 8)) + "x"


# --- receivers ------------------------------------------------------------------------------------
@dataclass
class Receipts:
    """Every POST received: (webhook id, receive time, article id), and bad signatures."""

    got: list[tuple[str, float, str]] = field(default_factory=list)
    bad_signatures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class Endpoint:
    """A webhook server on a fixed port, in a thread; ``mode`` ok|500|timeout|refused."""

    def __init__(self, receipts: Receipts) -> None:
        self.port = free_port()
        self.mode = "ok"
        self._receipts = receipts
        self._hook = Webhook(SECRET)
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        threading.Thread(target=self._loop.run_forever, daemon=True).start()
        self.listen()

    def url(self, subscriber: str) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/{subscriber}"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.mode == "500":
            return web.Response(status=500)
        if self.mode == "timeout":
            await asyncio.sleep(10)
            return web.Response(status=204)
        try:
            payload = self._hook.verify(body, dict(request.headers))
        except Exception:  # noqa: BLE001 - any verification failure counts
            with self._receipts.lock:
                self._receipts.bad_signatures += 1
            return web.Response(status=400)
        article = payload.get("article", {}).get("id", "") if isinstance(payload, dict) else ""
        with self._receipts.lock:
            self._receipts.got.append((request.headers.get("webhook-id", ""), time.time(), article))
        return web.Response(status=204)

    def _run(self, coro) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(15)

    def listen(self) -> None:
        async def start() -> None:
            app = web.Application(client_max_size=8 * 1024 * 1024)
            app.router.add_post("/hooks/{subscriber}", self._handle)
            self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
            await self._runner.setup()
            await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

        self._run(start())

    def close(self) -> None:
        if self._runner is not None:
            self._run(self._runner.cleanup())
            self._runner = None

    def set(self, mode: str) -> None:
        """Switch mode; ``refused`` closes the port, leaving it reopens it."""
        if mode == "refused" and self._runner is not None:
            self.close()
        elif mode != "refused" and self._runner is None:
            self.listen()
        self.mode = mode


# --- services -------------------------------------------------------------------------------------
class Supervisor:
    """The services as child processes; a dead one is started again (like a process manager)."""

    def __init__(self, env: dict[str, str], rules: Path, logs: Path) -> None:
        self.env, self.rules, self.logs = env, rules, logs
        self.slots: dict[str, ServiceProcess] = {}
        self.restarts: Counter = Counter()
        self._stop = threading.Event()

    def spawn(self, slot: str) -> ServiceProcess:
        kind = slot.rstrip("0123456789")
        port = free_port()
        args = [] if kind == "ingest" else ["--rules", str(self.rules)]
        service = ServiceProcess(slot, [newsalert_executable(), "serve", kind, *args, "--port", str(port)], self.logs / f"{slot}.log",
                                 env=self.env, health_url=f"http://127.0.0.1:{port}/healthz", cwd=ROOT)
        self.slots[slot] = service.start()
        return service

    def watch(self) -> None:
        while not self._stop.wait(1.0):
            for slot, service in list(self.slots.items()):
                if not service.alive():
                    self.restarts[slot] += 1
                    self.spawn(slot)

    def kill(self, slot: str) -> None:
        self.slots[slot].kill()

    def stop(self) -> None:
        self._stop.set()
        for service in self.slots.values():
            service.stop()


# --- the run --------------------------------------------------------------------------------------
@dataclass
class Fault:
    at: float
    what: str
    until: float | None = None


def plan(minutes: float, rng: random.Random) -> list[Fault]:
    """The faults and their times (seconds from the start of feeding)."""
    total = minutes * 60
    faults = []
    kills = max(2, round(minutes))
    for i in range(kills):
        slot = rng.choice(["matcher1", "matcher2"] if i % 2 == 0 else ["notifier1", "notifier2"])
        faults.append(Fault(rng.uniform(0.1, 0.85) * total, f"kill -9 {slot}"))
    stops = max(1, round(minutes / 5))
    for k in range(stops):  # one per equal slice of the middle of the run: outages never overlap
        lo, hi = 0.25 + 0.5 * k / stops, 0.25 + 0.5 * (k + 1) / stops
        start = rng.uniform(lo, lo + 0.5 * (hi - lo)) * total
        faults.append(Fault(start, "broker stopped", start + 20))
    start = rng.uniform(0.05, max(0.06, 1 - 70 / total)) * total
    faults.append(Fault(start, "endpoint flaky: 500s, then timeouts, then refused", start + 60))
    return sorted(faults, key=lambda f: f.at)


def generate_articles(count: int, rng: random.Random, vocabulary: int) -> list[dict]:
    articles = []
    for i in range(count):
        words = rng.sample(range(vocabulary), 2)
        articles.append({"id": f"soak-{i:06d}", "title": f"Report on {word(words[0])} and {word(words[1])}",
                         "body": f"Filed today. {word(words[0])} news, {word(words[1])} follow-up.",
                         "url": f"https://news.example/soak/{i}", "source": "Soak Wire", "language": "en"})
    return articles


def write_rules(path: Path, count: int, vocabulary: int, ok: Endpoint, flaky: Endpoint) -> None:
    lines = ["subscribers:"]
    for sid in SUBSCRIBERS:
        url = (flaky if sid == "flaky" else ok).url(sid)
        lines += [f"  - id: {sid}", f"    url: {url}", f"    secret: {SECRET}"]
    lines.append("rules:")
    for i in range(count):
        lines += [f"  - id: r{i:04d}", f"    query: {word(i % vocabulary)}", f"    notify: [{SUBSCRIBERS[i % len(SUBSCRIBERS)]}]"]
    path.write_text("\n".join(lines) + "\n")


def post(url: str, article: dict) -> int:
    request = urllib.request.Request(url, data=json.dumps(article).encode(), method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def expected_alerts(env: dict, rules: Path, articles: Path) -> set[str]:
    result = subprocess.run([newsalert_executable(), "match", "--rules", str(rules), str(articles)], capture_output=True,
                            text=True, env={**os.environ, **env}, cwd=ROOT, timeout=600)
    assert result.returncode in (0, 1), result.stderr
    out = set()
    for line in result.stdout.splitlines():
        item = json.loads(line)
        out |= {webhook_id(item["article_id"], item["rule_id"], s) for s in item["notify"]}
    return out


async def count_records(bootstrap: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    count, quiet = 0, time.monotonic()
    try:
        while time.monotonic() - quiet < 3:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                count += len(batch)
                quiet = time.monotonic()
    finally:
        await consumer.stop()
    return count


def run(args: argparse.Namespace) -> dict:
    rng = random.Random(args.seed)
    home = Path(tempfile.mkdtemp(prefix="newsalert-soak-"))
    ports = []
    for _ in range(2):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
    cfg = local_kafka.BrokerConfig.from_settings(Settings(home=home / "kafka", kafka_port=ports[0], kafka_controller_port=ports[1]))
    env = {**SOAK_ENV, "NEWSALERT_KAFKA_BOOTSTRAP": cfg.bootstrap, "NEWSALERT_HOME": str(home / "kafka")}
    receipts = Receipts()
    ok, flaky = Endpoint(receipts), Endpoint(receipts)
    rules = home / "rules.yaml"
    vocabulary = 400
    write_rules(rules, args.rules, vocabulary, ok, flaky)
    articles = generate_articles(int(args.minutes * 60 * args.rate) + 1, rng, vocabulary)
    faults = plan(args.minutes, rng)
    accepted: dict[str, float] = {}
    supervisor = Supervisor(env, rules, home / "logs")
    started = local_kafka.start(cfg, purpose="soak")
    print(f"soak: private broker {cfg.bootstrap} started in {started.start_seconds:.1f} s; faults: "
          + "; ".join(f"{f.at:.0f} s {f.what}" for f in faults), flush=True)
    try:
        subprocess.run([newsalert_executable(), "topics", "create"], env={**os.environ, **env}, cwd=ROOT, check=True,
                       capture_output=True, timeout=120)
        for slot in ("matcher1", "matcher2", "notifier1", "notifier2", "ingest"):
            supervisor.spawn(slot)
        for service in supervisor.slots.values():
            service.wait_healthy(timeout=120)
        threading.Thread(target=supervisor.watch, daemon=True).start()
        ingest_url = supervisor.slots["ingest"].health_url.rsplit("/", 1)[0] + "/articles"

        t0 = time.time()
        pending_faults = list(faults)
        events: list[tuple[float, float | None, str]] = []
        for n, article in enumerate(articles):
            due = t0 + n / args.rate
            while time.time() < due or (pending_faults and time.time() - t0 >= pending_faults[0].at):
                if pending_faults and time.time() - t0 >= pending_faults[0].at:
                    fault = pending_faults.pop(0)
                    threading.Thread(target=inject, args=(fault, supervisor, cfg, flaky, events, t0), daemon=True).start()
                    continue
                time.sleep(max(0.0, min(0.05, due - time.time())))
            while post(ingest_url, article) != 202:  # 503 while the broker is away: try again, as a client does
                time.sleep(0.5)
            accepted[article["id"]] = time.time()
        fed_at = time.time()
        feed = home / "articles.jsonl"
        feed.write_text("".join(json.dumps(a) + "\n" for a in articles if a["id"] in accepted))
        expected = expected_alerts(env, rules, feed)
        deadline = time.time() + args.drain
        while time.time() < deadline:
            with receipts.lock:
                if expected <= {w for w, _, _ in receipts.got}:
                    break
            time.sleep(1)
        time.sleep(5)  # late copies
        dead = asyncio.run(count_records(cfg.bootstrap, f"{PREFIX}deliveries.dead"))
    finally:
        supervisor.stop()
        ok.close()
        flaky.close()
        local_kafka.stop(cfg, timeout=30)
        shutil.rmtree(home, ignore_errors=True)
    with receipts.lock:
        got = list(receipts.got)
    counts = Counter(w for w, _, _ in got)
    delays = [(t - t0, t - accepted[a]) for _, t, a in got if a in accepted]
    return {
        "minutes": args.minutes, "rate": args.rate, "rules": args.rules, "seed": args.seed,
        "articles": len(accepted), "expected": len(expected), "delivered": len(set(counts) & expected),
        "missing": len(expected - set(counts)), "unexpected": len(set(counts) - expected),
        "duplicates": sum(n - 1 for n in counts.values()), "dead_letters": dead, "bad_signatures": receipts.bad_signatures,
        "longest_delay_s": round(max((d for _, d in delays), default=0.0), 1), "drain_s": round(time.time() - fed_at, 1),
        "restarts": dict(supervisor.restarts), "events": events, "delays": delays,
    }


def inject(fault: Fault, supervisor: Supervisor, cfg, flaky: Endpoint, events: list, t0: float) -> None:
    """Carry out one fault (in its own thread) and record when it began and ended."""
    began = time.time() - t0
    if fault.what.startswith("kill -9"):
        supervisor.kill(fault.what.split()[-1])
        events.append((began, None, fault.what))
    elif fault.what == "broker stopped":
        local_kafka.stop(cfg, timeout=30)
        time.sleep(20)
        local_kafka.start(cfg, purpose="soak")
        events.append((began, time.time() - t0, "broker stopped (20 s down, plus its stop and restart)"))
    else:
        for mode in ("500", "timeout", "refused"):
            flaky.set(mode)
            time.sleep(20)
        flaky.set("ok")
        events.append((began, time.time() - t0, "endpoint flaky (500, timeout, refused)"))


def verdict(result: dict) -> list[str]:
    """What failed, if anything."""
    problems = []
    if result["missing"]:
        problems.append(f"{result['missing']} expected alerts never delivered")
    if result["unexpected"]:
        problems.append(f"{result['unexpected']} unexpected alerts")
    if result["dead_letters"]:
        problems.append(f"{result['dead_letters']} dead letters")
    if result["bad_signatures"]:
        problems.append(f"{result['bad_signatures']} bad signatures")
    return problems


def write_report(result: dict, report: Path, plot: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4))
    xs, ys = zip(*result["delays"]) if result["delays"] else ((), ())
    ax.scatter(xs, ys, s=2, alpha=0.5, label="alert delivered (delay since accepted by ingest)")
    for began, ended, what in result["events"]:
        if ended is None:
            ax.axvline(began, color="red", linewidth=1)
            ax.text(began, ax.get_ylim()[1] * 0.95, what.replace("kill -9 ", "kill "), rotation=90, fontsize=7, va="top")
        else:
            ax.axvspan(began, ended, color="orange" if "broker" in what else "grey", alpha=0.25, label=what)
    ax.set_xlabel("seconds since feeding began")
    ax.set_ylabel("delivery delay (s)")
    ax.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    fig.savefig(plot, dpi=110)
    problems = verdict(result)
    lines = [
        MARK_START,
        "## Chaos soak",
        "",
        f"`make soak` (`benchmarks/soak.py --minutes {result['minutes']:g} --rate {result['rate']:g} --rules {result['rules']} "
        f"--seed {result['seed']}`), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: private broker, 2 matchers, "
        "2 notifiers, ingest, receivers verifying signatures; retry schedule 2,5,10,20,30,60,60,60 s; de-duplication off.",
        "",
        "| fault | at (s) | until (s) |",
        "|---|---|---|",
        *(f"| {what} | {began:.0f} | {'' if ended is None else f'{ended:.0f}'} |" for began, ended, what in sorted(result["events"])),
        "",
        "| articles accepted | alerts expected | delivered | missing | unexpected | duplicates | dead letters | bad signatures | longest delay | drain |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"| {result['articles']} | {result['expected']} | {result['delivered']} | {result['missing']} | {result['unexpected']} | "
        f"{result['duplicates']} | {result['dead_letters']} | {result['bad_signatures']} | {result['longest_delay_s']} s | {result['drain_s']} s |",
        "",
        f"Services restarted by the supervisor: {result['restarts'] or 'none'} (killed ones, and any that exited while the "
        "broker was away). Verdict: " + ("**passed**." if not problems else "**FAILED**: " + "; ".join(problems) + "."),
        "",
        f"![delivery delay over time]({plot.name})",
        MARK_END,
    ]
    text = report.read_text() if report.exists() else "# Reliability\n"
    if MARK_START in text:
        head, rest = text.split(MARK_START, 1)
        text = head + "\n".join(lines) + rest.split(MARK_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n"
    report.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long articles are fed, in minutes (default 10)")
    parser.add_argument("--rate", type=float, default=2.0, help="articles per second (default 2)")
    parser.add_argument("--rules", type=int, default=1000, help="rules (default 1,000)")
    parser.add_argument("--drain", type=float, default=600.0, help="most seconds to wait for the drain (default 600)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--report", type=Path, default=ROOT / "docs" / "reliability.md")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "soak.png")
    args = parser.parse_args()
    result = run(args)
    write_report(result, args.report, args.plot)
    summary = {k: v for k, v in result.items() if k not in ("delays",)}
    print(json.dumps(summary, indent=1))
    problems = verdict(result)
    print("soak verdict:", "passed" if not problems else "FAILED: " + "; ".join(problems))
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
