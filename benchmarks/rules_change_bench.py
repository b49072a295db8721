"""Benchmark of rule changes at 100,000 rules: what one added rule costs until it matches, through
the API and through a file edit, against compiling the whole rule set in the same run.

    .venv/bin/python benchmarks/rules_change_bench.py                  # writes docs/benchmarks.md
    .venv/bin/python benchmarks/rules_change_bench.py --rules 10000 --steady 10 --no-write

The rules are those of ``rules_bench.py`` (same generator and seed), written as a YAML rule file.
The matcher's live-rules path is run in one process without the broker: the record the API (or
the file watch) would publish is encoded and decoded as on the ``rules`` topic, applied to the
feed state (``services/matcher/live.py``), and the matcher is changed as ``install`` does it
(``changed_matcher``, or a full compile above ``NEWSALERT_RULES_INCREMENTAL_MAX``). The time to
take effect ends when a BBC-like article containing the new rule's words matches it. CPU seconds
of this process (the machine is shared); the same steps with a full recompile are the reference.

Steady state: BBC articles are matched at a fixed rate while one API change per second (a
subscription with an inline rule added, the previous one removed) is applied between them, on
the one thread, as in the matcher; the backlog of articles due but not matched is sampled.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.rules_bench import BBC, DOC, _read, generate  # noqa: E402

SECTION = "## Rule changes at 100,000 rules"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def write_rule_file(path: Path, queries: list[str], extra: str = "") -> None:
    """A rule file with one subscriber and ``queries`` as rules ``r0``... notifying it."""
    lines = ["subscribers:", "  - id: desk", "    url: https://hooks.example.org/desk", f"    secret: {SECRET}", "rules:"]
    for i, query in enumerate(queries):
        lines += [f"  - id: r{i}", f"    query: {json.dumps(query, ensure_ascii=False)}", "    notify: [desk]"]
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")


def cpu(work):
    """(result, CPU seconds) of ``work()``."""
    started = time.process_time()
    result = work()
    return result, time.process_time() - started


def run(rule_count: int, steady_s: float, rate: float, seed: int) -> dict:
    from newsalert.config import Settings
    from newsalert.domain.gcpause import keep_out_of_collections
    from newsalert.domain.live_rules import snapshot_of
    from newsalert.domain.matching import Engine, prepare
    from newsalert.domain.rule_items import RuleFileReader
    from newsalert.adapters.rule_files import load_rule_file
    from newsalert.schemas.rules import Rule
    from newsalert.schemas.rules_feed import FeedSubscriber, SubscriptionRecord, inline_rule_id, ruleset_key, subscription_key
    from newsalert.services.matcher.live import FeedState, file_fingerprint
    from newsalert.services.matcher.processing import build_matcher, changed_matcher

    settings = Settings()
    queries = generate(rule_count, seed)
    tmp = Path(tempfile.mkdtemp(prefix="rules-change-"))
    path = tmp / "rules.yaml"
    write_rule_file(path, queries)
    out: dict = {"rules": rule_count, "file_mb": path.stat().st_size / 1e6}

    # Start-up as the matcher does it: load, publish, read back, compile everything.
    reader = RuleFileReader()  # the matcher's: start-up load, then reloads of changed items
    rule_set, out["load_file_s"] = cpu(lambda: load_rule_file(path, env={}, reader=reader))
    feed = FeedState()
    feed.apply(ruleset_key(), snapshot_of(rule_set).to_json())
    effective, out["effective_s"] = cpu(feed.effective)
    matcher, out["full_compile_s"] = cpu(lambda: build_matcher(settings, effective, dedup=False))
    keep_out_of_collections()  # as the matcher does after start-up and after each change

    probe = prepare("Zyxwv quorble accord signed", "The zyxwv quorble accord was signed on Friday.")

    def take_effect(rule_id: str) -> bool:
        return any(m.rule_id == rule_id for m in matcher.engine.match(probe))

    # 1. One rule added through the API: a subscription record with an inline rule.
    def api_add(sub_id: str, query: str) -> None:
        nonlocal matcher
        subscriber = FeedSubscriber(id=sub_id, url=f"https://hooks.example.org/{sub_id}", secret=SECRET)
        record = SubscriptionRecord(id=sub_id, subscriber=subscriber, status="active", rules=(Rule(id="x", query=query),))
        feed.apply(subscription_key(sub_id), record.to_json())
        rule_set = feed.effective()
        matcher = changed_matcher(settings, matcher, rule_set, dedup=False) or build_matcher(settings, rule_set, dedup=False)
        keep_out_of_collections()

    wall = time.perf_counter()
    _, out["api_add_s"] = cpu(lambda: api_add("bench-api", '"zyxwv quorble"'))
    out["api_add_wall_s"] = time.perf_counter() - wall
    out["api_matches"] = take_effect(inline_rule_id("bench-api", "x"))

    # 2. One rule added by editing the file: notice, load, publish and read back, change.
    write_rule_file(path, queries, "  - id: added\n    query: 'quorble accord'\n    notify: [desk]\n")
    parts: dict[str, float] = {}
    loaded_now: list = [None]

    def file_add() -> None:
        nonlocal matcher
        _, parts["notice_s"] = cpu(lambda: file_fingerprint(path))
        loaded, parts["load_s"] = cpu(lambda: load_rule_file(path, env={}, reader=reader))
        loaded_now[0] = loaded
        _, parts["feed_s"] = cpu(lambda: feed.apply(ruleset_key(), snapshot_of(loaded).to_json()))
        rule_set, parts["effective_s"] = cpu(feed.effective)
        changed, parts["engine_s"] = cpu(lambda: changed_matcher(settings, matcher, rule_set, dedup=False))
        matcher = changed or build_matcher(settings, rule_set, dedup=False)
        keep_out_of_collections()

    wall = time.perf_counter()
    _, out["file_add_s"] = cpu(file_add)
    out["file_add_wall_s"] = time.perf_counter() - wall
    out["file_parts"] = parts
    out["file_matches"] = take_effect("added")

    # 3. Reference: the same file loaded and the same rule set compiled from scratch; equal results.
    full_load, out["reference_load_s"] = cpu(lambda: load_rule_file(path, env={}))
    out["load_equal"] = full_load == loaded_now[0]
    reference, out["reference_compile_s"] = cpu(lambda: Engine(matcher.engine.rules))
    docs = [prepare(a.get("title"), a.get("body"), a.get("source")) for a in _read(BBC)[:300]]
    out["equal_to_rebuild"] = all(
        [m.rule_id for m in matcher.engine.match(d)] == [m.rule_id for m in reference.match(d)] for d in docs
    )
    out.update(steady(lambda i: api_add(f"bench-steady-{i % 2}", f'"zyxwv quorble{i}"'), lambda d: matcher.engine.match(d), docs, steady_s, rate))
    return out


def steady(change, match, docs: list, seconds: float, rate: float) -> dict:
    """Match ``rate`` articles/s and apply one ``change`` per second for ``seconds``, on one thread."""
    start = time.perf_counter()
    done = changes = 0
    change_cpu = match_cpu = 0.0
    backlog: list[int] = []
    while (now := time.perf_counter() - start) < seconds:
        if now >= changes:  # one change per second, first at 0
            change_cpu += cpu(lambda n=changes: change(n))[1]
            changes += 1
            backlog.append(int(now * rate) - done)
        due = int(now * rate)
        if done < due:
            c0 = time.process_time()
            while done < due:
                match(docs[done % len(docs)])
                done += 1
            match_cpu += time.process_time() - c0
        else:
            time.sleep(0.001)
    return {
        "steady_s": seconds, "steady_rate": rate, "steady_changes": changes,
        "change_cpu_share": change_cpu / seconds, "match_cpu_share": match_cpu / seconds,
        "backlog_first_half": max(backlog[: len(backlog) // 2] or [0]), "backlog_second_half": max(backlog[len(backlog) // 2 :] or [0]),
        "steady_matched": done,
    }


def render(r: dict, command: str) -> str:
    p = r["file_parts"]
    return "\n".join([
        SECTION, "",
        f"Command: `{command}` (CPU seconds of one process; 2-core machine shared with the team's test runs).",
        "",
        f"{r['rules']:,} generated rules (the generator of `rules_bench.py`), a {r['file_mb']:.1f} MB YAML file. "
        "One rule added, until an article containing its words matches it:",
        "",
        "| path | CPU s (wall s) | matches | reference in the same run |",
        "|---|---:|:---:|---|",
        f"| API: subscription with an inline rule | {r['api_add_s']:.2f} ({r['api_add_wall_s']:.2f}) | {'yes' if r['api_matches'] else 'NO'} | full compile of all rules: {r['full_compile_s']:.2f} s |",
        f"| file edit (+ the poll interval, 1 s by default) | {r['file_add_s']:.2f} ({r['file_add_wall_s']:.2f}) | {'yes' if r['file_matches'] else 'NO'} | file load alone at start: {r['load_file_s']:.2f} s |",
        "",
        f"File edit, by step (CPU s): notice {p['notice_s']:.2f}, load and check the YAML file {p['load_s']:.2f}, "
        f"snapshot encoded and read back {p['feed_s']:.2f}, effective rule set {p['effective_s']:.2f}, "
        f"engine changed {p['engine_s']:.2f}. The same file loaded whole: {r['reference_load_s']:.2f} s "
        f"(equal rule set: {'yes' if r['load_equal'] else 'NO'}). Engine compiled from scratch for the same rules: "
        f"{r['reference_compile_s']:.2f} s; its matches on 300 BBC articles equal the changed engine's: "
        f"{'yes' if r['equal_to_rebuild'] else 'NO'}.",
        "",
        f"Steady state ({r['steady_s']:.0f} s): {r['steady_rate']:.0f} articles/s matched and one API change per second "
        f"({r['steady_changes']} changes): changes took {r['change_cpu_share'] * 100:.1f} % of a core, matching "
        f"{r['match_cpu_share'] * 100:.1f} %; largest backlog of articles due but not matched: {r['backlog_first_half']} "
        f"in the first half, {r['backlog_second_half']} in the second (no growth = keeps up).",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rules", type=int, default=100_000)
    parser.add_argument("--steady", type=float, default=60.0, help="seconds of the steady-state run")
    parser.add_argument("--rate", type=float, default=200.0, help="articles per second in the steady-state run")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    result = run(args.rules, args.steady, args.rate, args.seed)
    print(json.dumps(result), file=sys.stderr)
    text = render(result, "python benchmarks/rules_change_bench.py " + " ".join(sys.argv[1:]))
    print(text)
    if not args.no_write:
        current = DOC.read_text(encoding="utf-8")
        start = current.find(SECTION)
        if start == -1:
            updated = current.rstrip("\n") + "\n\n" + text + "\n"
        else:
            end = current.find("\n## ", start + len(SECTION))
            updated = current[:start] + text + ("\n" + current[end + 1 :] if end != -1 else "\n")
        DOC.write_text(updated, encoding="utf-8")


if __name__ == "__main__":
    main()
