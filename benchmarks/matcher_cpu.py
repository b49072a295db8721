"""CPU time of the matcher's pure processing path, per article: ``ArticleMatcher.process``.

    .venv/bin/python benchmarks/matcher_cpu.py
    .venv/bin/python benchmarks/matcher_cpu.py --digest    # also a sha256 of every record produced

What is measured: ``newsalert.services.matcher.processing.ArticleMatcher.process(raw, position)`` for each of
the BBC articles (``../shared/data/bbc.jsonl``, read in place, never copied), i.e. decoding and
validating the record, cleaning, matching, building every ``Alert`` and encoding it, plus the story
fingerprints with de-duplication on. No broker, no faust, no I/O inside the timed loop.

Inputs are the end-to-end benchmark's (``benchmarks/pipeline_bench.py``): its 10,000 generated
rules (``rules_bench.generate(10000, 7)`` through ``rule_queries``' cache), each notifying one of 50
subscribers round robin (``write_rule_file``, in a temporary directory), and its article records
(``load_articles``: validated and cleaned with ``parse_article``, then ``.to_json()``), each with
a fresh id. The matcher is built by ``newsalert.services.matcher.processing.build_matcher``, as the service builds it (the
engine compiled from the loaded rule file), once with de-duplication (story fingerprints in a
header of every alert) on and once off.

Timing: ``time.process_time()`` (CPU time of this process, so a busy neighbour on the machine
does not count), the best of 3 passes over all articles after one untimed warm-up pass, printed
as µs per article with the number of alert records per article.

``--digest`` hashes every record (topic, key, headers, value) of one pass with a fixed clock and
rule-set version, so two versions of the code can be checked to produce the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT), str(BENCH)]

from pipeline_bench import load_articles, rule_queries, write_rule_file  # noqa: E402

from newsalert.config import Settings  # noqa: E402
from newsalert.adapters.rule_files import load_rule_file  # noqa: E402
from newsalert.services.matcher.processing import ArticleMatcher, SourcePosition, build_matcher  # noqa: E402

BBC = ROOT / ".." / "shared" / "data" / "bbc.jsonl"
RULES = 10_000
SEED = 7
SUBSCRIBERS = 50
PASSES = 3
FIXED_CLOCK = datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)
TIMESTAMP_MS = 1_700_000_000_123


def build(rules_path: Path, dedup: bool) -> ArticleMatcher:
    """The matcher the service builds (``build_matcher``), with ``dedup`` chosen here."""
    return build_matcher(Settings(), load_rule_file(rules_path), dedup=dedup)


def records(count: int) -> list[tuple[bytes, SourcePosition]]:
    """``count`` article records (the BBC corpus, cycled), each with its own id and offset."""
    templates = load_articles((BBC,))
    out = []
    for i in range(count or len(templates)):
        article_id = f"bench-{i}"
        position = SourcePosition("articles", 0, i, key=article_id.encode(), timestamp_ms=TIMESTAMP_MS + i)
        out.append((templates[i % len(templates)].encode(article_id), position))
    return out


def one_pass(matcher: ArticleMatcher, inputs: list[tuple[bytes, SourcePosition]]) -> tuple[float, int]:
    """CPU seconds of processing every input once, and the number of alert records produced."""
    produced = 0
    process = matcher.process
    start = time.process_time()
    for raw, position in inputs:
        outcome = process(raw, position)
        produced += 0 if outcome.rejected else len(outcome.records)
    return time.process_time() - start, produced


def digest(matcher: ArticleMatcher, inputs: list[tuple[bytes, SourcePosition]]) -> str:
    """sha256 over every record of one pass, with the clock and version pinned (they vary per run)."""
    matcher._clock = lambda: FIXED_CLOCK  # noqa: SLF001 - a benchmark check, not service code
    matcher.ruleset_version = "bench"  # the rule file's random secrets enter the real version
    h = hashlib.sha256()
    for raw, position in inputs:
        for record in matcher.process(raw, position).records:
            h.update(repr((record.topic, record.key, record.headers, record.value)).encode())
    return h.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=0, help="articles per pass (default: the whole BBC corpus)")
    parser.add_argument("--digest", action="store_true", help="also print a sha256 of every record produced")
    args = parser.parse_args()

    inputs = records(args.articles)
    with tempfile.TemporaryDirectory() as tmp:
        rules_path = Path(tmp) / "rules.yaml"
        write_rule_file(rules_path, rule_queries(RULES, SEED), SUBSCRIBERS, receiver_port=9)
        matchers = {dedup: build(rules_path, dedup) for dedup in (True, False)}

    print(f"matcher CPU: {len(inputs)} BBC articles, {RULES} rules, {SUBSCRIBERS} subscribers, best of {PASSES}")
    for dedup, matcher in matchers.items():
        one_pass(matcher, inputs)  # warm-up: normalise cache, first-use imports
        best, produced = min(one_pass(matcher, inputs) for _ in range(PASSES))
        line = (f"  dedup={'on ' if dedup else 'off'}  {best / len(inputs) * 1e6:8.1f} µs/article"
                f"  {produced / len(inputs):6.2f} alerts/article")
        if args.digest:
            line += f"  sha256={digest(matcher, inputs)[:16]}"
        print(line)


if __name__ == "__main__":
    main()
