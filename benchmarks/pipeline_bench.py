"""End-to-end benchmark of the whole pipeline: articles -> matcher -> notifier -> webhook.

    make bench                                             # the default run, writes docs/
    .venv/bin/python benchmarks/pipeline_bench.py --quick  # a small smoke run (~3 min)
    .venv/bin/python benchmarks/pipeline_bench.py --loads 200,1000 --duration 20 --rules 10000 \\
        --matchers 2 --notifiers 2 --no-profile

What runs: the local Kafka broker (started with the project's code when none answers), then for
every phase a fresh set of topics (unique prefix) with the real services as child processes
(``newsalert serve matcher|notifier`` with a generated rule file) and a separate receiver process
(``benchmarks/bench_receiver.py``, signatures verified). The benchmark process is the producer:
it publishes real articles (BBC + Reuters, ~22,000, cycled, each with a fresh id) with an aiokafka
producer configured like the project's ``KafkaPublisher`` (idempotent, ``acks=all``, linger 5 ms),
and stamps each record's Kafka timestamp with the publish time (the matcher copies it into the
alert's ``ingested_at``). Latency = receipt time at the receiver - publish time of the article.

Phases: the raw limit (aiokafka producing and consuming the same article bytes, no processing),
the stage phases (``stage_phases.py``: raw signed HTTP, a bare aiokafka relay, the notifier alone
on pre-filled alerts, the matcher's pure engine; each stage is reported as a ratio to its limit),
then one phase per offered load (token-paced for ``--duration`` s) and one at the maximum
(published as fast as the broker acknowledges, for ``--duration`` s or until ``--max-articles``). After publishing, a phase
waits until both consumer groups have no lag (everything matched and delivered) or ``--drain`` s
passed. Every second it samples both groups' lag and every process's CPU time and RSS (psutil).
Fresh topics per phase mean an overloaded phase leaves no backlog to the next one.

Rules: ``--rules`` queries from the engine benchmark's generator (``benchmarks/rules_bench.py``,
same seed), each notifying one of ``--subscribers`` subscribers (round robin), all pointing at the
receiver. Generated rules are cached under ``runs/bench-cache/``.

Output: the ``## End-to-end pipeline`` section of ``docs/benchmarks.md``,
``docs/latency.png``, and the raw figures as JSON in ``runs/bench-<time>/results.json``. With
``--batch-max N`` (every subscriber batched) the section is the batched-delivery one and the plot
``docs/latency-batched.png``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT), str(BENCH)]

import psutil  # noqa: E402
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # noqa: E402
from aiokafka.admin import AIOKafkaAdminClient  # noqa: E402

from newsalert.adapters import local_kafka  # noqa: E402
from newsalert.adapters.processes import ServiceProcess, free_port, newsalert_executable  # noqa: E402
from newsalert.adapters.topics import TopicSpec, ensure_topics  # noqa: E402
from newsalert.config import Settings  # noqa: E402
from newsalert.domain.articles import InvalidArticle, parse_article  # noqa: E402
from newsalert.errors import SetupError  # noqa: E402
from expected_alerts import ExpectedAlerts  # noqa: E402
from stage_phases import run_stages  # noqa: E402

DATA = ROOT / ".." / "shared" / "data"
CORPORA = (DATA / "bbc.jsonl", DATA / "reuters21578.jsonl")
CACHE = ROOT / "runs" / "bench-cache"
SAMPLE_EVERY_S = 1.0
ID_SLOT = "@@ARTICLE-ID@@"


# --- inputs: articles and rules -----------------------------------------------------------------


@dataclass(frozen=True)
class ArticleTemplate:
    """One corpus article encoded once, with slots for the id: the id itself, a ``[id]`` tag at the
    end of the title and a ``bench=id`` parameter on the URL. They make every publication a distinct
    story for the matcher's story de-duplication (URL; title + first paragraph), as a real feed's
    articles are, so cycling the corpus
    does not turn alerts into suppressed repeats; no generated rule can match it (rules use
    alphabetic corpus words, the tag's tokens are a timestamp, the phase label and a number)."""

    parts: tuple[bytes, ...]

    def encode(self, article_id: str) -> bytes:
        return article_id.encode().join(self.parts)


def load_articles(paths: tuple[Path, ...]) -> list[ArticleTemplate]:
    """Every valid corpus article, validated and cleaned as ingest does (``parse_article``)."""
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise SystemExit(f"pipeline_bench: corpus not found: {', '.join(missing)}\n"
                         f"  the benchmark replays the BBC and Reuters corpora from ../shared/data/ (see ../shared/README.md)")
    out: list[ArticleTemplate] = []
    for path in paths:
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    continue
                try:
                    article = parse_article(json.loads(line))
                except InvalidArticle:
                    continue
                update = {"id": ID_SLOT, "title": f"{article.title or ''} [{ID_SLOT}]".strip()}
                if article.url:  # a distinct canonical URL too (a query parameter rules never see)
                    update["url"] = f"{article.url}{'&' if '?' in article.url else '?'}bench={ID_SLOT}"
                tagged = article.model_copy(update=update)
                out.append(ArticleTemplate(tuple(tagged.to_json().split(ID_SLOT.encode()))))
    return out


def rule_queries(count: int, seed: int) -> list[str]:
    """``count`` queries from the engine benchmark's generator, cached by (count, seed, generator
    source), so a changed generator is never served from an old cache."""
    import hashlib

    source = BENCH / "rules_bench.py"
    version = hashlib.sha256(source.read_bytes()).hexdigest()[:10] if source.exists() else "none"
    cached = CACHE / f"rules-{count}-{seed}-{version}.json"
    if cached.exists():
        return json.loads(cached.read_text(encoding="utf-8"))
    try:
        from rules_bench import generate  # the engine benchmark's generator
    except ImportError as exc:
        raise SystemExit(f"pipeline_bench: cannot import the rule generator of benchmarks/rules_bench.py: {exc}") from None

    queries = generate(count, seed)
    CACHE.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(queries), encoding="utf-8")
    return queries


def write_rule_file(path: Path, queries: list[str], subscribers: int, receiver_port: int, batch_max: int | None = None) -> None:
    """A rule file: ``subscribers`` subscribers at the receiver (each with ``batch_max`` if given),
    each query notifying one of them."""
    lines = ["subscribers:"]
    for i in range(subscribers):
        secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
        lines += [f"  - id: sub-{i:03d}", f"    url: http://127.0.0.1:{receiver_port}/hooks/sub-{i:03d}", f"    secret: {secret}"]
        lines += [f"    batch_max: {batch_max}"] if batch_max else []
    lines.append("rules:")
    for i, query in enumerate(queries):
        lines += [f"  - id: r{i:05d}", f"    query: {json.dumps(query)}", f"    notify: [sub-{i % subscribers:03d}]"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


# --- the broker ---------------------------------------------------------------------------------


@contextlib.contextmanager
def broker(settings: Settings):
    """The bootstrap of a running broker: the configured one if it answers, else the local broker
    started (and, at the end, stopped when nothing else uses it) with the project's code."""
    host, _, port = settings.kafka_bootstrap.split(",")[0].rpartition(":")
    cfg = local_kafka.BrokerConfig.from_settings(settings)
    if host not in ("127.0.0.1", "localhost") or int(port) != settings.kafka_port or local_kafka.status(cfg).state == "foreign":
        if local_kafka.probe(host, int(port)) is None:
            raise SystemExit(f"pipeline_bench: no Kafka broker answers on {settings.kafka_bootstrap}")
        yield settings.kafka_bootstrap, None
        return
    with contextlib.ExitStack() as stack:
        try:
            started = stack.enter_context(local_kafka.lease(cfg, purpose="bench"))
        except SetupError as exc:
            raise SystemExit(f"pipeline_bench: the local Kafka broker could not start: {exc}") from None
        yield started.bootstrap, started


def broker_pid(settings: Settings) -> int | None:
    """Pid of the local broker when newsalert runs it (for its CPU and RSS)."""
    return local_kafka.status(local_kafka.BrokerConfig.from_settings(settings)).pid


# --- sampling -----------------------------------------------------------------------------------


@dataclass
class ProcessUsage:
    """CPU seconds and peak RSS of one process over a window."""

    name: str
    pid: int
    cpu_start: float = 0.0
    cpu_end: float = 0.0
    rss_peak_mb: float = 0.0
    started: bool = False

    def sample(self) -> None:
        """Note the CPU time (the first call starts the window) and the RSS."""
        try:
            proc = psutil.Process(self.pid)
            with proc.oneshot():
                times = proc.cpu_times()
                cpu = times.user + times.system
                self.rss_peak_mb = max(self.rss_peak_mb, proc.memory_info().rss / 2**20)
        except psutil.Error:
            return
        if not self.started:
            self.cpu_start, self.started = cpu, True
        self.cpu_end = cpu

    def cpu_percent(self, seconds: float) -> float:
        return 100 * (self.cpu_end - self.cpu_start) / seconds if seconds > 0 else 0.0


class LagSampler:
    """Lag of the matcher and notifier groups: end offsets minus committed offsets."""

    def __init__(self, bootstrap: str, settings: Settings) -> None:
        self.settings = settings
        self.admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self.partitions: dict[str, list[TopicPartition]] = {}

    async def start(self) -> None:
        await self.admin.start()
        await self.consumer.start()
        for name in ("articles", "matches"):
            topic = self.settings.topic(name)
            count = self.settings.articles_partitions if name == "articles" else self.settings.matches_partitions
            self.partitions[name] = [TopicPartition(topic, p) for p in range(count)]

    async def stop(self) -> None:
        await self.consumer.stop()
        await self.admin.close()

    async def sample(self) -> dict:
        """{articles_end, matched (committed by the matcher), matches_end, notified, lags}."""
        ends = await self.consumer.end_offsets(self.partitions["articles"] + self.partitions["matches"])
        matched = await self._committed("matcher", self.partitions["articles"])
        notified = await self._committed("notifier", self.partitions["matches"])
        articles_end = sum(ends[tp] for tp in self.partitions["articles"])
        matches_end = sum(ends[tp] for tp in self.partitions["matches"])
        return {
            "articles_end": articles_end, "matched": matched, "matches_end": matches_end, "notified": notified,
            "matcher_lag": articles_end - matched, "notifier_lag": matches_end - notified,
        }

    async def _committed(self, group: str, partitions: list[TopicPartition]) -> int:
        offsets = await self.admin.list_consumer_group_offsets(self.settings.group(group), partitions=partitions)
        return sum(max(0, meta.offset) for tp, meta in offsets.items() if tp in partitions)


# --- one phase ----------------------------------------------------------------------------------


@dataclass
class PhaseResult:
    """Figures of one phase (see ``summarise``)."""

    label: str
    offered: float | None
    duration: float
    published: int = 0
    publish_rate: float = 0.0
    matched: int = 0
    matcher_rate: float = 0.0
    alerts_produced: int = 0
    alerts_delivered: int = 0
    duplicates: int = 0
    rejected_signatures: int = 0
    alerts_rate: float = 0.0
    fanout: float = 0.0
    e2e_rate: float = 0.0
    sustained: bool = False
    drained_s: float | None = None
    lost: int | None = None  # alerts `newsalert match` predicts that never arrived (phases that drained)
    unexpected: int | None = None  # alerts that arrived and were not predicted
    latency_ms: dict = field(default_factory=dict)
    lag: list = field(default_factory=list)  # [seconds since first publish, matcher lag, notifier lag]
    max_lag: dict = field(default_factory=dict)
    processes: list = field(default_factory=list)
    profile: dict = field(default_factory=dict)


class Phase:
    """Fresh topics and services; publish at a rate (or flat out); sample; drain; summarise."""

    def __init__(self, bench: "Bench", label: str, rate: float | None) -> None:
        self.bench = bench
        self.label = label
        self.rate = rate
        self.prefix = f"bench-{bench.run_id}-{label}-"
        self.id_prefix = f"{bench.run_id}-{label}"  # article ids never repeat across phases and runs
        self.dir = bench.run_dir / label
        self.received_path = self.dir / "received.tsv"
        self.settings = Settings(
            kafka_bootstrap=bench.bootstrap, topic_prefix=self.prefix,
            articles_partitions=bench.partitions, matches_partitions=bench.partitions,
        )
        self.services: list[ServiceProcess] = []
        self.published_at: dict[str, float] = {}
        self.usage: list[ProcessUsage] = []
        self.samples: list[tuple[float, dict]] = []
        self.drained_at: float | None = None
        self.profile: dict = {}

    # -- services ------------------------------------------------------------------------------
    def start_services(self) -> None:
        asyncio.run(ensure_topics(self.settings))
        env = {
            "NEWSALERT_KAFKA_BOOTSTRAP": self.bench.bootstrap, "NEWSALERT_TOPIC_PREFIX": self.prefix,
            "NEWSALERT_ALLOW_PRIVATE_TARGETS": "true", "NEWSALERT_LOG_LEVEL": "WARNING",
            "NEWSALERT_ARTICLES_PARTITIONS": str(self.bench.partitions),
            "NEWSALERT_MATCHES_PARTITIONS": str(self.bench.partitions),
        }
        port = self.bench.receiver_port
        receiver = [sys.executable, str(BENCH / "bench_receiver.py"), "--rules", str(self.bench.rules_path),
                    "--port", str(port), "--out", str(self.received_path)]
        self._spawn("receiver", receiver, env, f"http://127.0.0.1:{port}/healthz")
        exe, rules = newsalert_executable(), str(self.bench.rules_path)
        for kind, count in (("matcher", self.bench.args.matchers), ("notifier", self.bench.args.notifiers)):
            for i in range(count):
                port = free_port()
                self._spawn(f"{kind}-{i + 1}", [exe, "serve", kind, "--rules", rules, "--port", str(port)],
                            env, f"http://127.0.0.1:{port}/readyz")
        for service in self.services:
            service.wait_healthy(timeout=180)  # /readyz: joined the group; 10k rules compiled
        pid = broker_pid(self.settings)
        extra = [("kafka broker", pid)] if pid else []
        self.usage = [ProcessUsage(s.name, s.pid) for s in self.services] + [
            ProcessUsage(name, p) for name, p in extra + [("bench (producer)", os.getpid())]]

    def _spawn(self, name: str, argv: list[str], env: dict, health: str) -> None:
        service = ServiceProcess(name, argv, self.dir / f"{name}.log", env=env, health_url=health, cwd=ROOT)
        self.services.append(service.start())

    def stop_services(self) -> None:
        for service in reversed(self.services):
            service.stop(timeout=30)
        asyncio.run(delete_topics(self.bench.bootstrap, self.prefix))
        shutil.rmtree(Path(self.settings.home) / "faust" / self.settings.group("matcher"), ignore_errors=True)

    # -- the run -------------------------------------------------------------------------------
    async def drive(self) -> tuple[float, float, float]:
        """Publish, sample and drain; returns (first publish, last publish, end) wall times."""
        sampler = LagSampler(self.bench.bootstrap, self.settings)
        await sampler.start()
        producer = self.bench.producer()
        await producer.start()
        try:
            for usage in self.usage:
                usage.sample()
            sampling = asyncio.create_task(self._sample_forever(sampler))
            profiling = self._start_profiles() if self.bench.args.profile and self.rate is None else []
            t0 = time.time()
            await self._publish(producer, t0)
            t_pub = time.time()
            await self._drain(sampler, t_pub)
            t_end = time.time()
            sampling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampling
            self.samples.append((time.time(), await sampler.sample()))
            for usage in self.usage:
                usage.sample()
            self._finish_profiles(profiling)
        finally:
            await producer.stop()
            await sampler.stop()
        return t0, t_pub, t_end

    async def _publish(self, producer: AIOKafkaProducer, t0: float) -> None:
        """Offered load: token pacing in 10 ms ticks. Max (rate None): as fast as the broker
        acknowledges (at most 2,000 records unacknowledged), until ``--max-articles`` are out."""
        duration, cap = self.bench.args.duration, self.bench.args.max_articles
        pending: set[asyncio.Future] = set()
        while (now := time.time()) - t0 < duration:
            if self.rate:
                due = int((now - t0) * self.rate) + 1 - len(self.published_at)
                pending.update([await self._send(producer) for _ in range(due)])
                await asyncio.sleep(0.01)
            elif len(self.published_at) >= cap:
                break
            else:
                pending.update([await self._send(producer) for _ in range(min(200, cap - len(self.published_at)))])
                if len(pending) > 2000:
                    await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            pending = _reap(pending)
        await asyncio.gather(*pending)

    async def _send(self, producer: AIOKafkaProducer) -> asyncio.Future:
        """Send the next article with a fresh id, its Kafka timestamp = now; note the time."""
        seq = len(self.published_at)
        article_id = f"{self.id_prefix}-{seq}"
        ts_ms = int(time.time() * 1000)
        value = self.bench.articles[seq % len(self.bench.articles)].encode(article_id)
        future = await producer.send(self.settings.topic("articles"), value, key=article_id.encode(), timestamp_ms=ts_ms)
        self.published_at[article_id] = ts_ms / 1000
        return future

    async def _drain(self, sampler: LagSampler, t_pub: float) -> None:
        """Wait until both groups have no lag, or ``--drain`` seconds passed."""
        deadline = t_pub + self.bench.args.drain
        while time.time() < deadline:
            sample = await sampler.sample()
            if sample["matcher_lag"] == 0 and sample["notifier_lag"] == 0 and sample["matched"] >= len(self.published_at):
                self.drained_at = time.time()
                return
            for service in self.services:
                if not service.alive():
                    raise SystemExit(f"pipeline_bench: {service.name} exited during phase {self.label}:\n{service.log_tail()}")
            await asyncio.sleep(0.5)
        self.drained_at = None

    async def _sample_forever(self, sampler: LagSampler) -> None:
        while True:
            self.samples.append((time.time(), await sampler.sample()))
            for usage in self.usage:
                usage.sample()
            await asyncio.sleep(SAMPLE_EVERY_S)

    # -- profiles ------------------------------------------------------------------------------
    def _start_profiles(self) -> list[tuple[str, subprocess.Popen, Path]]:
        """py-spy on the first matcher and notifier for most of the phase (flat-out load)."""
        spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
        if spy is None:
            print("pipeline_bench: py-spy not installed: no profile", file=sys.stderr)
            return []
        seconds = max(3, int(self.bench.args.duration) - 2)
        out = []
        for service in self.services:
            if service.name in ("matcher-1", "notifier-1"):
                path = self.dir / f"{service.name}.pyspy.txt"
                cmd = [spy, "record", "--pid", str(service.pid), "--duration", str(seconds), "--rate", "50",
                       "--format", "raw", "--output", str(path), "--nonblocking"]
                out.append((service.name, subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), path))
        return out

    def _finish_profiles(self, profiling: list) -> None:
        for name, proc, path in profiling:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
            self.profile[name] = top_functions(path) if path.exists() else []

    # -- results -------------------------------------------------------------------------------
    def run(self) -> PhaseResult:
        self.dir.mkdir(parents=True, exist_ok=True)
        label = f"{self.rate:g}/s" if self.rate else "max"
        print(f"phase {self.label}: {label} for {self.bench.args.duration:g} s ...", file=sys.stderr, flush=True)
        try:
            try:
                self.start_services()
            except SetupError as exc:
                raise SystemExit(f"pipeline_bench: phase {self.label}: a service did not start: {exc}") from None
            t0, t_pub, t_end = asyncio.run(self.drive())
            rejected = receiver_rejections(self.bench.receiver_port)
        finally:
            self.stop_services()
        result = self.summarise(t0, t_pub, t_end, rejected)
        print(f"  {one_line(result)}", file=sys.stderr, flush=True)
        return result

    def summarise(self, t0: float, t_pub: float, t_end: float, rejected: int) -> PhaseResult:
        """Turn the samples and the receiver's lines into the phase's figures."""
        r = PhaseResult(self.label, self.rate, self.bench.args.duration, rejected_signatures=rejected)
        r.published = len(self.published_at)
        r.publish_rate = r.published / (t_pub - t0)
        last = self.samples[-1][1]
        r.matched, r.alerts_produced = last["matched"], last["matches_end"]
        r.matcher_rate = r.matched / max(0.001, first_time_at(self.samples, "matched", r.matched) - t0)
        latencies, r.duplicates, last_receipt = read_receipts(self.received_path, self.published_at)
        r.alerts_delivered = len(latencies)
        r.alerts_rate = r.alerts_delivered / (last_receipt - t0) if latencies else 0.0
        r.fanout = r.alerts_produced / r.matched if r.matched else 0.0
        r.sustained = self.drained_at is not None
        if r.sustained:
            owed, got = self.bench.expected().webhook_ids(self.id_prefix, r.published), received_ids(self.received_path)
            r.lost, r.unexpected = len(owed - got), len(got - owed)
        r.drained_s = None if self.drained_at is None else self.drained_at - t_pub
        if r.sustained:
            r.e2e_rate = r.published / (max(last_receipt, t_pub) - t0)
        else:
            r.e2e_rate = min(r.matcher_rate, r.alerts_rate / r.fanout if r.fanout else r.matcher_rate)
        r.latency_ms = percentiles(latencies)
        r.lag = [[round(t - t0, 2), s["matcher_lag"], s["notifier_lag"]] for t, s in self.samples]
        r.max_lag = {"matcher": max(s["matcher_lag"] for _, s in self.samples), "notifier": max(s["notifier_lag"] for _, s in self.samples)}
        window = t_end - t0
        r.processes = [{"name": u.name, "cpu_percent": round(u.cpu_percent(window), 1), "rss_peak_mb": round(u.rss_peak_mb, 1)} for u in self.usage]
        r.profile = self.profile
        return r


async def delete_topics(bootstrap: str, prefix: str) -> None:
    """Delete the topics of one phase (the broker's disk is not the benchmark's to fill)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if names:
            await admin.delete_topics(names)
    finally:
        await admin.close()


def _reap(pending: set[asyncio.Future]) -> set[asyncio.Future]:
    """The futures still pending; a failed send raises here."""
    for future in [f for f in pending if f.done()]:
        future.result()
    return {f for f in pending if not f.done()}


def first_time_at(samples: list[tuple[float, dict]], key: str, value: int) -> float:
    """Wall time of the first sample where ``key`` reached ``value``."""
    return next(t for t, s in samples if s[key] >= value)


def read_receipts(path: Path, published_at: dict[str, float]) -> tuple[list[float], int, float]:
    """Latencies (s) of first receipts, the number of repeated receipts, and the last receipt time."""
    seen: set[str] = set()
    latencies: list[float] = []
    duplicates = 0
    last = 0.0
    if not path.exists():
        return latencies, duplicates, last
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            received_at, webhook_id, article_id = line.rstrip("\n").split("\t")
            if webhook_id in seen:
                duplicates += 1
                continue
            seen.add(webhook_id)
            at = float(received_at)
            last = max(last, at)
            latencies.append(at - published_at[article_id])
    return latencies, duplicates, last


def received_ids(path: Path) -> set[str]:
    """The distinct webhook ids in the receiver's file."""
    if not path.exists():
        return set()
    with path.open(encoding="utf-8") as handle:
        return {line.split("\t")[1] for line in handle if line.strip()}


def percentiles(latencies: list[float]) -> dict:
    """p50, p95, p99 and max in milliseconds (nearest rank)."""
    if not latencies:
        return {}
    ordered = sorted(latencies)

    def rank(p: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, int(round(p / 100 * len(ordered))) - 1))] * 1000

    return {"p50": rank(50), "p95": rank(95), "p99": rank(99), "max": ordered[-1] * 1000}


def receiver_rejections(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as response:
        return json.loads(response.read())["rejected"]


def top_functions(path: Path, limit: int = 8) -> dict:
    """From py-spy's collapsed stacks (``--format raw``; idle threads are not sampled): the share of
    samples by the package of the frame on top of the stack (where the CPU goes), and the
    functions most often on top (self time), each as [name, percent of samples]."""
    leaves: dict[str, int] = {}
    packages: dict[str, int] = {}
    total = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        leaf = stack.split(";")[-1]
        leaves[leaf] = leaves.get(leaf, 0) + int(n)
        package = frame_package(leaf)
        packages[package] = packages.get(package, 0) + int(n)
        total += int(n)

    def ranked(counts: dict[str, int]) -> list[list]:
        return [[name, round(100 * n / total, 1)] for name, n in sorted(counts.items(), key=lambda kv: -kv[1])[:limit]]

    return {"packages": ranked(packages), "functions": ranked(leaves), "samples": total} if total else {}


def frame_package(frame: str) -> str:
    """``func (pydantic/main.py:587)`` -> ``pydantic``; ours by sub-package (``newsalert/domain/matching``)."""
    where = frame.rpartition("(")[2].partition(":")[0]
    parts = where.split("/")
    if parts[0] in ("newsalert", "services") and len(parts) > 2:
        return "/".join(parts[:-1])
    return parts[0].removesuffix(".py") if parts[0] else "?"


def one_line(r: PhaseResult) -> str:
    lat = r.latency_ms
    checked = "" if r.lost is None else f", lost {r.lost}, unexpected {r.unexpected}"
    return (f"published {r.published} ({r.publish_rate:.0f}/s), matcher {r.matcher_rate:.0f} articles/s, "
            f"{r.alerts_delivered}/{r.alerts_produced} alerts ({r.alerts_rate:.0f}/s), e2e {r.e2e_rate:.0f} articles/s, "
            f"p50/p99 {lat.get('p50', 0):.0f}/{lat.get('p99', 0):.0f} ms, sustained {r.sustained}, dup {r.duplicates}{checked}")


# --- the raw limit ------------------------------------------------------------------------------


def raw_limit(bench: "Bench", count: int) -> dict:
    """aiokafka producing and consuming ``count`` article records, no processing: articles/s."""
    settings = Settings(kafka_bootstrap=bench.bootstrap, topic_prefix=f"bench-{bench.run_id}-raw-")
    topic = settings.topic("raw")
    asyncio.run(ensure_topics(settings, [TopicSpec("raw", bench.partitions)]))
    consumer = subprocess.Popen(
        [sys.executable, __file__, "--raw-consumer", topic, "--raw-count", str(count), "--bootstrap", bench.bootstrap,
         "--raw-partitions", str(bench.partitions)],
        stdout=subprocess.PIPE, text=True,
    )
    assert consumer.stdout is not None
    if consumer.stdout.readline().strip() != "ready":
        raise SystemExit("pipeline_bench: the raw consumer did not start")
    t0 = asyncio.run(produce_raw(bench, topic, count))
    out, _ = consumer.communicate(timeout=600)
    asyncio.run(delete_topics(bench.bootstrap, settings.topic_prefix))
    done = json.loads(out.strip().splitlines()[-1])
    seconds = done["last"] - t0
    if done["seen"] < count:
        raise SystemExit(f"pipeline_bench: the raw consumer saw {done['seen']} of {count} records")
    return {"count": count, "seconds": seconds, "articles_per_s": count / seconds}


async def produce_raw(bench: "Bench", topic: str, count: int) -> float:
    """Publish ``count`` article records flat out; returns the time of the first send."""
    producer = bench.producer()
    await producer.start()
    t0 = time.time()
    pending = []
    try:
        for i in range(count):
            article_id = f"raw-{i}"
            # send() waits by itself when the producer's buffer is full: no other throttle needed
            pending.append(await producer.send(topic, bench.articles[i % len(bench.articles)].encode(article_id), key=article_id.encode()))
            if len(pending) >= 10_000:
                pending = list(_reap(set(pending)))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return t0


async def consume_raw(bootstrap: str, topic: str, partitions: int, count: int) -> None:
    """The raw consumer (its own process): count records, print the time of the last one."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    parts = [TopicPartition(topic, p) for p in range(partitions)]
    consumer.assign(parts)
    await consumer.seek_to_beginning(*parts)
    print("ready", flush=True)
    seen = 0
    last = 0.0
    deadline = time.time() + 600
    try:
        while seen < count and time.time() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for records in batches.values():
                seen += len(records)
                last = time.time()
    finally:
        await consumer.stop()
    print(json.dumps({"seen": seen, "last": last}), flush=True)


# --- the run ------------------------------------------------------------------------------------


class Bench:
    """Inputs shared by the phases: articles, rule file, receiver port, broker."""

    def __init__(self, args: argparse.Namespace, bootstrap: str) -> None:
        self.args = args
        self.bootstrap = bootstrap
        self.run_id = time.strftime("%Y%m%d%H%M%S")
        self.run_dir = ROOT / "runs" / f"bench-{self.run_id}"
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.partitions = max(4, 2 * max(args.matchers, args.notifiers))
        self.receiver_port = free_port()
        self.rules_path = self.run_dir / "rules.yaml"
        self.articles: list[ArticleTemplate] = []
        self._expected: ExpectedAlerts | None = None

    def expected(self) -> "ExpectedAlerts":
        """The offline prediction of the alerts (built on first use: the engine on the rule file)."""
        if self._expected is None:
            self._expected = ExpectedAlerts(self.rules_path, self.articles)
        return self._expected

    def prepare(self) -> None:
        t = time.perf_counter()
        self.articles = load_articles(CORPORA)
        print(f"{len(self.articles):,} articles loaded in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        t = time.perf_counter()
        queries = rule_queries(self.args.rules, self.args.seed)
        write_rule_file(self.rules_path, queries, self.args.subscribers, self.receiver_port, self.args.batch_max)
        print(f"{len(queries):,} rules in {time.perf_counter() - t:.1f} s -> {self.rules_path}", file=sys.stderr)

    def producer(self) -> AIOKafkaProducer:
        """Configured like ``newsalert.adapters.broker.KafkaPublisher``."""
        return AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True,
                                linger_ms=5, max_request_size=4 * 1024 * 1024, client_id="newsalert-bench")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loads", default="100,200,400,700,1000", help="offered loads, articles/s, comma-separated")
    parser.add_argument("--no-max", action="store_true", help="skip the flat-out phase")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of publishing per phase")
    parser.add_argument("--drain", type=float, default=30.0, help="most seconds to wait after publishing for the lag to reach 0")
    parser.add_argument("--rules", type=int, default=10_000, help="number of generated rules")
    parser.add_argument("--subscribers", type=int, default=50, help="subscribers the rules notify (round robin)")
    parser.add_argument("--seed", type=int, default=7, help="rule generator seed (same as the engine benchmark)")
    parser.add_argument("--matchers", type=int, default=1, help="matcher worker processes (one consumer group)")
    parser.add_argument("--notifiers", type=int, default=1, help="notifier processes (one consumer group)")
    parser.add_argument("--max-articles", type=int, default=22_000, help="most articles published in the max phase")
    parser.add_argument("--raw-count", type=int, default=100_000, help="records for the raw aiokafka limit")
    parser.add_argument("--batch-max", type=int, help="every subscriber gets this batch_max (batched delivery)")
    parser.add_argument("--stage-alerts", type=int, default=20_000, help="alerts for the raw HTTP, bare relay and notifier-alone phases")
    parser.add_argument("--engine-articles", type=int, default=3_000, help="articles for the pure engine phase")
    parser.add_argument("--no-stages", dest="stages", action="store_false",
                        help="skip the stage phases (raw HTTP, bare relay, notifier alone, pure engine)")
    parser.add_argument("--no-profile", dest="profile", action="store_false",
                        help="do not py-spy the first matcher and notifier during the max phase")
    parser.add_argument("--quick", action="store_true", help="small smoke run: 1,000 rules, loads 100,500, 8 s phases (overrides those flags)")
    parser.add_argument("--no-write", action="store_true", help="do not write docs/benchmarks.md and docs/latency.png")
    parser.add_argument("--raw-consumer", metavar="TOPIC", help=argparse.SUPPRESS)
    parser.add_argument("--bootstrap", help=argparse.SUPPRESS)
    parser.add_argument("--raw-partitions", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.rules, args.loads, args.duration, args.drain, args.raw_count, args.max_articles = 1000, "100,500", 8.0, 20.0, 30_000, 5000
        args.stage_alerts, args.engine_articles = 5000, 500
    args.load_list = [float(x) for x in args.loads.split(",") if x.strip()]
    return args


def machine() -> dict:
    """What the figures were measured on."""
    return {
        "cores": os.cpu_count(), "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu": platform.processor() or platform.machine(), "python": platform.python_version(),
        "kafka": local_kafka.pom_default_version(), "date": time.strftime("%Y-%m-%d %H:%M"),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.raw_consumer:
        asyncio.run(consume_raw(args.bootstrap, args.raw_consumer, args.raw_partitions, args.raw_count))
        return
    command = "python benchmarks/pipeline_bench.py " + " ".join(sys.argv[1:] if argv is None else argv)
    settings = Settings()
    started = time.perf_counter()
    host_info = machine()
    with broker(settings) as (bootstrap, start_info):
        bench = Bench(args, bootstrap)
        bench.prepare()
        print(f"raw aiokafka limit: {args.raw_count:,} records ...", file=sys.stderr, flush=True)
        raw = raw_limit(bench, args.raw_count)
        print(f"  {raw['articles_per_s']:,.0f} articles/s", file=sys.stderr, flush=True)
        stages = run_stages(bench) if args.stages else None
        phases = [(f"load{rate:g}", rate) for rate in args.load_list] + ([] if args.no_max else [("max", None)])
        results = [Phase(bench, label, rate).run() for label, rate in phases]
    total = time.perf_counter() - started
    report = {"command": command.strip(), "machine": host_info, "args": {k: v for k, v in vars(args).items() if k != "load_list"},
              "raw": raw, "stages": stages, "phases": [asdict(r) for r in results], "total_s": total, "partitions": bench.partitions}
    (bench.run_dir / "results.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    from pipeline_report import plot, render, section_of, write_section

    text = render(report)
    print(text)
    if not args.no_write:
        title, image = section_of(report)
        write_section(text, title)
        plot(report, ROOT / "docs" / image)
    print(f"results: {bench.run_dir}/results.json ({total / 60:.1f} min)", file=sys.stderr)


if __name__ == "__main__":
    main()
