"""The end-to-end benchmark's stage phases: each stage against its own limit, in the same run.

Run by ``pipeline_bench.py`` before the load phases, on fresh topics, with the run's receiver
(``bench_receiver.py``, every signature verified) and rule file:

- *raw HTTP*: a bare aiohttp client POSTing ``--stage-alerts`` signed alert bodies (64 in flight) to
  the receiver: POSTs/s;
- *bare relay*: a plain aiokafka consumer draining the same alerts pre-filled on ``matches``,
  signing and POSTing each (64 in flight), committing per delivered batch: alerts/s;
- *notifier alone*: one ``newsalert serve notifier`` draining the same pre-filled ``matches``:
  alerts/s from the first receipt to the last, its CPU and peak RSS;
- *pure engine*: the matcher's pure path (``ArticleMatcher.process``) on the same rule file over
  ``--engine-articles`` of the corpus articles, in the benchmark process: articles/s.

``render`` turns the figures into the ratio table and the targets of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import urllib.request

import psutil

import references
from bench_receiver import load_secrets
from newsalert.adapters.processes import ServiceProcess, free_port, newsalert_executable
from newsalert.adapters.topics import ensure_topics
from newsalert.config import Settings

NOTIFIER_SHARE, PIPELINE_ALERTS, MATCHER_SHARE, P99_LOAD, P99_MS, CAPACITY, CAPACITY_P99_MS = 0.60, 5000, 0.70, 400, 100, 700, 1000
BATCHED_SHARE = 0.90


def run_stages(bench) -> dict:
    """Every stage phase of the run (see the module docstring)."""
    out = {}
    print(f"stage phases: {bench.args.stage_alerts:,} alerts ...", file=sys.stderr, flush=True)
    out["engine"] = references.pure_engine(bench.rules_path, [bench.articles[i % len(bench.articles)].encode(f"pure-{i}")
                                                               for i in range(bench.args.engine_articles)])
    secrets = load_secrets(bench.rules_path)
    alerts = references.make_alerts(bench.args.stage_alerts, bench.args.subscribers, prefix=f"stage-{bench.run_id}")
    settings = Settings(kafka_bootstrap=bench.bootstrap, topic_prefix=f"bench-{bench.run_id}-stages-",
                        matches_partitions=bench.partitions)
    asyncio.run(ensure_topics(settings))
    asyncio.run(references.prefill(settings, alerts))
    receiver = _start(bench, "receiver", [sys.executable, str(bench_dir() / "bench_receiver.py"), "--rules", str(bench.rules_path),
                                          "--port", str(bench.receiver_port), "--out", str(bench.run_dir / "stages-received.tsv")],
                      settings, f"http://127.0.0.1:{bench.receiver_port}/healthz")
    base = f"http://127.0.0.1:{bench.receiver_port}"
    try:
        out["raw_http"] = asyncio.run(references.raw_http(base, secrets, alerts))
        out["bare_relay"] = asyncio.run(references.bare_relay(settings, base, secrets, len(alerts)))
        out["notifier"] = notifier_alone(bench, settings, {a.webhook_id for a in alerts})
    finally:
        receiver.stop(timeout=30)
        from pipeline_bench import delete_topics

        asyncio.run(delete_topics(bench.bootstrap, settings.topic_prefix))
    for name in ("raw_http", "bare_relay", "notifier", "engine"):
        print(f"  {name}: {out[name]['per_s']:,.0f}/s", file=sys.stderr, flush=True)
    return out


def bench_dir():
    from pathlib import Path

    return Path(__file__).resolve().parent


def _start(bench, name: str, argv: list[str], settings: Settings, health: str) -> ServiceProcess:
    env = {"NEWSALERT_KAFKA_BOOTSTRAP": bench.bootstrap, "NEWSALERT_TOPIC_PREFIX": settings.topic_prefix,
           "NEWSALERT_ALLOW_PRIVATE_TARGETS": "true", "NEWSALERT_LOG_LEVEL": "WARNING",
           "NEWSALERT_MATCHES_PARTITIONS": str(bench.partitions)}
    service = ServiceProcess(name, argv, bench.run_dir / f"stages-{name}.log", env=env, health_url=health, cwd=bench_dir().parent)
    service.start()
    service.wait_healthy(timeout=180)
    return service


def notifier_alone(bench, settings: Settings, expected: set[str]) -> dict:
    """One notifier process draining the pre-filled alerts (``expected`` webhook ids): alerts/s, CPU,
    peak RSS, and the ids lost or unexpected (from the receiver's lines of this phase)."""
    count, received_path = len(expected), bench.run_dir / "stages-received.tsv"
    time.sleep(0.3)  # the receiver writes its lines every 100 ms
    skip = _lines(received_path)
    before = _received(bench.receiver_port)
    port = free_port()
    service = _start(bench, "notifier", [newsalert_executable(), "serve", "notifier", "--rules", str(bench.rules_path),
                                         "--port", str(port)], settings, f"http://127.0.0.1:{port}/readyz")
    proc = psutil.Process(service.pid)
    first = last = None
    rss = 0.0
    deadline = time.time() + 300
    try:
        got = 0
        while got < count and time.time() < deadline:
            time.sleep(0.1)
            got = _received(bench.receiver_port) - before
            rss = max(rss, proc.memory_info().rss / 2**20)
            if got and first is None:
                first = (time.perf_counter(), got, _cpu(proc))
        last = (time.perf_counter(), got, _cpu(proc))
    finally:
        service.stop(timeout=30)
    time.sleep(0.3)
    with received_path.open(encoding="utf-8") as handle:
        got_ids = {line.split("\t")[1] for n, line in enumerate(handle) if n >= skip and line.strip()}
    checked = {"lost": len(expected - got_ids), "unexpected": len(got_ids - expected)}
    if first is None or last[1] <= first[1]:
        return {"count": last[1] if last else 0, "seconds": 0.0, "per_s": 0.0, "cpu_s": 0.0, "rss_peak_mb": rss, **checked}
    seconds = last[0] - first[0]
    return {"count": last[1], "seconds": seconds, "per_s": (last[1] - first[1]) / seconds, "cpu_s": last[2] - first[2],
            "cpu_us_per_alert": (last[2] - first[2]) / (last[1] - first[1]) * 1e6, "rss_peak_mb": rss, **checked}


def _cpu(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


def _lines(path) -> int:
    if not path.exists():
        return 0
    with path.open(encoding="utf-8") as handle:
        return sum(1 for _ in handle)


def _received(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as response:
        return json.loads(response.read())["received"]


# --- report ----------------------------------------------------------------------------------------


def render(report: dict) -> list[str]:
    """The stages table (each against its limit) and the targets, as markdown lines."""
    st = report.get("stages")
    if not st:
        return []
    raw, relay, alone, engine = st["raw_http"], st["bare_relay"], st["notifier"], st["engine"]
    flat = next((p for p in report["phases"] if not p["offered"]), None)
    lines = [
        "Each stage against its own limit, measured in this run (`benchmarks/stage_phases.py`; "
        f"{raw['count']:,} alerts of ~1 KB over {report['args']['subscribers']} subscribers, 64 POSTs in flight, "
        "the same verifying receiver):", "",
        "| stage | rate | reference | ratio | CPU | peak RSS |", "|---|---:|---|---:|---:|---:|",
        f"| raw HTTP (bare aiohttp client, signed POSTs) | {raw['per_s']:,.0f} POSTs/s | - | - | {_us(raw)} | - |",
        f"| bare relay (aiokafka consumer + sign + POST + commit per batch) | {relay['per_s']:,.0f} alerts/s | raw HTTP | "
        f"{_ratio(relay, raw)} | {_us(relay)} | - |",
        f"| notifier alone (one `newsalert serve notifier`, pre-filled `matches`) | {alone['per_s']:,.0f} alerts/s | raw HTTP | "
        f"{_ratio(alone, raw)} (bare relay: {_ratio(alone, relay)}) | {_us(alone)} | {alone.get('rss_peak_mb', 0):,.0f} MB |",
        f"| pure engine (`ArticleMatcher.process`, {engine['count']:,} articles, one process) | {engine['per_s']:,.0f} articles/s | - | - | "
        f"{engine['cpu_s'] / engine['count'] * 1e6:,.0f} µs/article | - |",
    ]
    if flat is not None:
        lines.append(f"| matcher in the pipeline at full load | {flat['matcher_rate']:,.0f} articles/s | pure engine | "
                     f"{flat['matcher_rate'] / engine['per_s']:.2f} | - | - |")
        lines.append(f"| notifier in the pipeline at full load | {flat['alerts_rate']:,.0f} alerts/s | raw HTTP | "
                     f"{flat['alerts_rate'] / raw['per_s']:.2f} | - | - |")
    lines += ["", f"Notifier alone: lost {alone.get('lost', '-')}, unexpected {alone.get('unexpected', '-')} of "
              f"{raw['count']:,} alerts (webhook ids the receiver logged in that phase against those pre-filled)."]
    return lines + ["", *_targets(report, st, flat)]


def _targets(report: dict, st: dict, flat: dict | None) -> list[str]:
    out = ["Targets of the stage figures (met / MISSED, from this run):", ""]
    share = st["notifier"]["per_s"] / st["raw_http"]["per_s"] if st["raw_http"]["per_s"] else 0.0
    out.append(f"- {_met(share >= NOTIFIER_SHARE)}: notifier alone ≥ {NOTIFIER_SHARE:.0%} of raw signed POSTs/s: {share:.0%}.")
    if flat is not None:
        out.append(f"- {_met(flat['alerts_rate'] >= PIPELINE_ALERTS)}: notifier ≥ {PIPELINE_ALERTS:,} alerts/s in the pipeline at "
                   f"full load: {flat['alerts_rate']:,.0f}.")
        m = flat["matcher_rate"] / st["engine"]["per_s"] if st["engine"]["per_s"] else 0.0
        out.append(f"- {_met(m >= MATCHER_SHARE)}: matcher in the pipeline ≥ {MATCHER_SHARE:.0%} of its pure engine: {m:.0%}.")
    at = next((p for p in report["phases"] if p["offered"] == P99_LOAD), None)
    if at is not None and at["latency_ms"]:
        p99 = at["latency_ms"]["p99"]
        out.append(f"- {_met(at['sustained'] and p99 <= P99_MS)}: every alert delivered with p99 ≤ {P99_MS} ms at {P99_LOAD} "
                   f"articles/s: p99 {p99:,.0f} ms, {'all' if at['sustained'] else 'not all'} delivered.")
    else:
        out.append(f"- not measured: p99 at {P99_LOAD} articles/s (add it to --loads).")
    batch_max = report["args"].get("batch_max")
    fine = [p["offered"] for p in report["phases"] if p["offered"] and p["sustained"] and p["latency_ms"].get("p99", 1e9) < CAPACITY_P99_MS]
    capacity = max(fine, default=0)
    offered = ", ".join(f"{p['offered']:g}" for p in report["phases"] if p["offered"])
    out.append(f"- {_met(capacity >= CAPACITY)}: capacity (highest offered load fully delivered with p99 under "
               f"{CAPACITY_P99_MS / 1000:g} s) ≥ {CAPACITY} articles/s: {capacity:,.0f} of the loads offered ({offered})"
               + (f", every subscriber at batch_max {batch_max}." if batch_max else ", unbatched."))
    if batch_max and flat is not None and flat["matcher_rate"]:
        share = capacity / flat["matcher_rate"]
        out.append(f"- {_met(share >= BATCHED_SHARE)}: with batch_max {batch_max}, capacity ≥ {BATCHED_SHARE:.0%} of the matcher's "
                   f"rate at full load: {capacity:,.0f} of {flat['matcher_rate']:,.0f} articles/s = {share:.0%}.")
    return out


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def _ratio(a: dict, b: dict) -> str:
    return f"{a['per_s'] / b['per_s']:.2f}" if b["per_s"] else "-"


def _us(r: dict) -> str:
    return f"{r['cpu_s'] / r['count'] * 1e6:,.0f} µs each" if r.get("count") else "-"
