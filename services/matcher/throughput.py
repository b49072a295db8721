"""Quick throughput measurement of ONE matcher worker on the local broker (not a test).

    .venv/bin/python -m newsalert.services.matcher.throughput                      # seeds/rules.yaml, BBC x2
    .venv/bin/python -m newsalert.services.matcher.throughput --generated 1000     # ~1,000 generated rules
    .venv/bin/python -m newsalert.services.matcher.throughput --articles 4450 --partitions 4

What it does: publishes the corpus (cleaned as ingest/replay would) to the ``articles`` topic of
a fresh topic prefix, then starts ``newsalert serve matcher`` as a child process and polls its
``/healthz`` counters. The figure is articles/s between the first consumed article and the last
(worker start-up and group join excluded), with every alert acknowledged by the broker (the
counters move only once an article's outputs are acknowledged). The topics are left behind under
the ``tp<random>-`` prefix (cheap; ``newsalert kafka stop`` + a fresh data dir clears them).

Generated rules: content words of the BBC corpus (in at least 3 and at most 5 % of the articles)
combined as ``a AND b``, ``"a b"`` phrases of adjacent words, ``a*`` prefixes and ``a OR b``,
deterministic in ``--seed``; every rule notifies one of four subscribers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

from newsalert.adapters.broker import KafkaPublisher, Record
from newsalert.adapters.processes import ServiceProcess, free_port, newsalert_executable
from newsalert.adapters.topics import ensure_topics
from newsalert.config import Settings
from newsalert.domain.articles import parse_article
from newsalert.domain.text import clean_text, token_spans

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CORPUS = REPO.parent / "shared" / "data" / "bbc.jsonl"
_SECRET = "whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="  # 32 x 'A': a throwaway test key


def load_articles(path: Path, count: int) -> list[bytes]:
    """``count`` cleaned article records (the corpus repeated, ids made unique per copy)."""
    base = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    out = []
    for i in range(count):
        item = dict(base[i % len(base)])
        item["id"] = f"{item['id']}~{i // len(base)}"
        out.append(parse_article(item).to_json())
    return out


def generated_rules(path: Path, count: int, seed: int) -> str:
    """A rule file of ``count`` generated rules (YAML text); see the module docstring."""
    docs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rng = random.Random(seed)
    df: Counter = Counter()
    bigrams: list[tuple[str, str]] = []
    for doc in docs:
        toks = token_spans(clean_text(f"{doc.get('title') or ''} {doc.get('body') or ''}"))[0]
        df.update(set(toks))
        if len(toks) > 1:
            i = rng.randrange(len(toks) - 1)
            bigrams.append((toks[i], toks[i + 1]))
    words = sorted(w for w, n in df.items() if 3 <= n <= 0.05 * len(docs) and w.isalpha() and len(w) > 3)
    lines = ["subscribers:"]
    for s in range(4):
        lines += [f"  - id: sub{s}", f"    url: http://127.0.0.1:9/hooks/sub{s}", f"    secret: {_SECRET}"]
    lines.append("rules:")
    for i in range(count):
        kind = rng.random()
        a, b = rng.choice(words), rng.choice(words)
        if kind < 0.4:
            query = f"{a} AND {b}"
        elif kind < 0.6:
            query = '"{} {}"'.format(*rng.choice(bigrams))
        elif kind < 0.8:
            query = f"{a[:5]}* AND {b}"
        else:
            query = f"({a} OR {b}) AND {rng.choice(words)}"
        lines += [f"  - id: gen-{i}", f"    query: '{query}'", f"    notify: [sub{i % 4}]"]
    return "\n".join(lines) + "\n"


async def publish(settings: Settings, records: list[bytes]) -> None:
    """Create the topics and publish ``records`` to ``articles`` (key = article id)."""
    await ensure_topics(settings)
    publisher = KafkaPublisher(settings, client_id="throughput")
    await publisher.start()
    try:
        topic = settings.topic("articles")
        for start in range(0, len(records), 500):
            chunk = records[start : start + 500]
            await publisher.publish_many([Record(topic, r, key=json.loads(r)["id"].encode()) for r in chunk])
    finally:
        await publisher.stop()


def health(port: int) -> dict:
    """The worker's /healthz body (empty dict when it does not answer yet)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return json.loads(response.read())
    except OSError:
        return {}


def measure(
    rules_file: Path, articles: list[bytes], partitions: int, timeout: float, env_extra: dict[str, str], profile: Path | None = None
) -> dict:
    """Run one worker over ``articles``; return the measured figures."""
    prefix = f"tp{uuid.uuid4().hex[:8]}-"
    env = {"NEWSALERT_TOPIC_PREFIX": prefix, "NEWSALERT_ARTICLES_PARTITIONS": str(partitions), "NEWSALERT_LOG_LEVEL": "WARNING", **env_extra}
    settings = Settings(**{k[len("NEWSALERT_"):].lower(): v for k, v in env.items() if k.startswith("NEWSALERT_")})
    asyncio.run(publish(settings, articles))
    port = free_port()
    log_path = Path(tempfile.gettempdir()) / f"{prefix}matcher.log"
    argv = [newsalert_executable(), "serve", "matcher", "--rules", str(rules_file), "--port", str(port)]
    if profile is not None:  # pyinstrument around the whole worker; the report is written at exit
        argv = [str(Path(sys.executable).with_name("pyinstrument")), "-r", "text", "-o", str(profile), *argv]
    worker = ServiceProcess(
        "matcher", argv,
        log_path, env=env, health_url=f"http://127.0.0.1:{port}/healthz",
    ).start()
    try:
        worker.wait_healthy(timeout=120)
        first = last = None
        deadline = time.monotonic() + timeout
        body: dict = {}
        while time.monotonic() < deadline:
            body = health(port)
            done = body.get("consumed", 0)
            now = time.monotonic()
            if done and first is None:
                first = (now, done)
            if done >= len(articles):
                last = (now, done)
                break
            time.sleep(0.1)
        if first is None or last is None:
            raise SystemExit(f"the worker did not finish within {timeout:.0f} s: {body}\n{worker.log_tail()}")
        elapsed = last[0] - first[0]
        return {
            "articles": len(articles), "rules": body.get("rules"), "alerts": body.get("alerts"),
            "seconds": round(elapsed, 2), "articles_per_s": round((last[1] - first[1]) / elapsed, 1) if elapsed else None,
        }
    finally:
        worker.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=Path, default=REPO / "seeds" / "rules.yaml")
    parser.add_argument("--generated", type=int, default=0, help="use this many generated rules instead of --rules")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--articles", type=int, default=4450)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--profile", type=Path, help="write a pyinstrument text report of the worker here")
    parser.add_argument("--env", action="append", default=[], help="extra NAME=VALUE for the worker")
    args = parser.parse_args(argv)
    rules_file = args.rules
    if args.generated:
        rules_file = Path(tempfile.gettempdir()) / f"generated-rules-{args.generated}-{args.seed}.yaml"
        rules_file.write_text(generated_rules(args.corpus, args.generated, args.seed), encoding="utf-8")
    env_extra = dict(item.split("=", 1) for item in args.env)
    articles = load_articles(args.corpus, args.articles)
    result = measure(rules_file, articles, args.partitions, args.timeout, env_extra, args.profile)
    print(json.dumps({"rules_file": str(rules_file), "load": os.getloadavg()[0], **result}), file=sys.stdout)


if __name__ == "__main__":
    main()
