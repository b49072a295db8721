"""Benchmark of the matching engine at 1k, 10k and 100k watch rules.

    .venv/bin/python benchmarks/rules_bench.py                 # all sizes, writes docs/benchmarks.md
    .venv/bin/python benchmarks/rules_bench.py --sizes 1000 --no-write
    .venv/bin/python benchmarks/rules_bench.py --profile 100000   # pyinstrument profile of the match loop

Rules are generated (fixed seed) from the corpora: each rule is drawn from one real article, chosen
uniformly among the 21,996 BBC and Reuters articles (so about 10% of the rules come from BBC
articles: a rule base written about the news in general, not tailored to the measured stream),
so that it can match something, with the shapes people write: entity phrases
(capitalised bigrams), plain words, OR groups, NOT, NEAR/ONEAR between words that really occur near
each other, wildcards on word stems, and title:/source: fields. Words are "content" words (not
stop words, at least 4 letters, in at least 3 and at most 3% of the corpus documents; the words
of one rule are distinct), so no rule matches everything.
The smaller rule sets are prefixes of the 100k one.

Each size runs in a fresh single-threaded subprocess (one core; not pinned, so that the scheduler
can move it away from busy neighbours), so peak RSS (``ru_maxrss``) is per size.
The subprocess parses the queries, compiles the engine, warms up on 200 articles, then times the
best of three passes over the 2,225 BBC articles, end to end per article: ``prepare`` (clean and
tokenise title, body, source) plus ``Engine.match`` with highlights. The naive baseline evaluates
every rule's AST on a sample of articles with a per-article token index (no automaton, no
presearch); its matches are checked to be identical to the engine's on that sample.

What a rule change costs at 100,000 rules (API, file edit, steady changes while matching) is
measured by ``benchmarks/rules_change_bench.py`` on the same generated rules.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from newsalert.domain.text import clean_text, token_spans  # noqa: E402

DATA = ROOT / ".." / "shared" / "data"
BBC = DATA / "bbc.jsonl"
REUTERS = DATA / "reuters21578.jsonl"
DOC = ROOT / "docs" / "benchmarks.md"
SECTION = "## Matching engine"

STOP = frozenset(
    """a about above after again against all also although among an and another any are around as
    at be because been before being below between both but by can could did do does doing down
    during each even every few first for from further had has have having he her here hers him his
    how however i if in into is it its itself just last later like made make many may me might more
    most much must my new next no nor not now of off on once one only or other our out over own
    per said same says she should since so some still such than that the their them then there
    these they this those though three through to too two under until up upon us very was we well
    were what when where which while who whom why will with within without would year years yet you
    your mr mrs ms monday tuesday wednesday thursday friday saturday sunday""".split()
)
# Highest share of corpus documents a rule word may appear in: above it words like "rate" or
# "company" make rules that match a large part of the stream, which is not what a watch rule is.
MAX_DF = 0.03
_ENTITY = re.compile(r"\b([A-Z][a-z]{2,}) ([A-Z][a-z]{2,})\b")


# --- rule generation ----------------------------------------------------------------------------


@dataclass
class CorpusDoc:
    """What rule generation needs of one article."""

    title_words: list[str]
    words: list[str]  # content-word tokens of title + body, in order (positions for NEAR)
    entities: list[str]
    source: str


def _read(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def load_corpus() -> tuple[list[CorpusDoc], list[CorpusDoc], list[str]]:
    """BBC and Reuters documents reduced to their content words and entities; the word pool."""
    raw = {"bbc": _read(BBC), "reuters": _read(REUTERS)}
    tokenised: dict[str, list[tuple[list[str], list[str], list[str], str]]] = {}
    # Document frequencies per corpus: a word must be rare in BBC and in Reuters news alike
    # ("film" is rare in 1987 Reuters and common in BBC).
    df: dict[str, Counter[str]] = {}
    entity_df: dict[str, Counter[str]] = {}
    for name, articles in raw.items():
        rows = []
        df[name], entity_df[name] = Counter(), Counter()
        for article in articles:
            title = token_spans(clean_text(article.get("title")))[0]
            body_text = clean_text(article.get("body"))
            tokens = title + token_spans(body_text)[0]
            entities = [f"{a} {b}" for a, b in _ENTITY.findall(body_text) if a.lower() not in STOP and b.lower() not in STOP]
            df[name].update(set(tokens))
            entity_df[name].update(set(entities))
            rows.append((title, tokens, entities, article.get("source") or ""))
        tokenised[name] = rows
    sizes = {name: len(rows) for name, rows in tokenised.items()}

    def rare(counts: dict[str, Counter[str]], key: str) -> bool:
        total = sum(c[key] for c in counts.values())
        return total >= 3 and all(counts[n][key] <= MAX_DF * sizes[n] for n in counts)

    def content(word: str) -> bool:
        return word.isalpha() and len(word) >= 4 and word not in STOP and rare(df, word)

    docs = {
        name: [
            CorpusDoc(
                [w for w in title if content(w)],
                [w for w in tokens if content(w)],
                sorted({e for e in entities if rare(entity_df, e)}),
                source,
            )
            for title, tokens, entities, source in rows
        ]
        for name, rows in tokenised.items()
    }
    pool = sorted(w for w in set(df["bbc"]) | set(df["reuters"]) if content(w))
    return docs["bbc"], docs["reuters"], pool


def _near_pair(rng: random.Random, words: list[str]) -> tuple[str, str, int] | None:
    """Two different content words close together in the document, and a NEAR distance."""
    for _ in range(5):
        i = rng.randrange(len(words))
        j = min(len(words) - 1, i + rng.randint(1, 3))
        if words[i] != words[j]:
            return words[i], words[j], rng.randint(3, 8)
    return None


def make_query(rng: random.Random, doc: CorpusDoc, pool: list[str]) -> str | None:
    """One realistic query built from ``doc`` (so that it can match at least that article)."""
    words = sorted(set(doc.words))
    if len(words) < 4:
        return None
    present = set(words)
    picked: set[str] = set()

    def w() -> str:
        """A content word of this document not used yet in this rule."""
        word = rng.choice(words)
        while word in picked:
            word = rng.choice(words)
        picked.add(word)
        return word

    def other() -> str:
        """Any content word of the corpora (OR alternatives)."""
        return rng.choice(pool)

    def absent() -> str:
        """A content word that is not in this document (NOT terms: the rule still matches it)."""
        word = other()
        while word in present:
            word = other()
        return word

    kind = rng.random()
    entity = rng.choice(doc.entities) if doc.entities else None
    if kind < 0.15 and entity:
        return f'"{entity}"'
    if kind < 0.30 and entity:
        return f'"{entity}" AND {w()}'
    if kind < 0.45:
        return f"{w()} {w()}"
    if kind < 0.52:
        return f"{w()} AND {w()} AND {w()}"
    if kind < 0.62:
        return f"({w()} OR {other()} OR {other()}) AND {w()}"
    if kind < 0.72:
        return rng.choice([f"{w()} {w()} -{absent()}", f"{w()} {w()} NOT ({absent()} OR {absent()})"])
    if kind < 0.82:
        pair = _near_pair(rng, doc.words)
        if pair:
            a, b, n = pair
            return f"{a} {rng.choice(['NEAR', 'ONEAR'])}/{n} {b}"
    if kind < 0.90:
        long_words = [x for x in words if len(x) >= 7]
        if long_words:
            stem = rng.choice(long_words)[: rng.randint(5, 7)]
            return f"{stem}* AND {w()}"
    if kind < 0.95 and doc.title_words:
        return rng.choice([f"title:{rng.choice(doc.title_words)} AND {w()}", f"title:({rng.choice(doc.title_words)} OR {other()})"])
    if doc.source:
        return f'source:"{doc.source}" AND {w()} AND {w()}'
    return f"{w()} {w()}"


def generate(count: int, seed: int) -> list[str]:
    """``count`` queries, each from a uniformly chosen BBC or Reuters article, deterministic in ``seed``."""
    from newsalert.domain.query.parser import parse_query
    from newsalert.errors import QuerySyntaxError

    bbc, reuters, pool = load_corpus()
    docs = bbc + reuters
    rng = random.Random(seed)
    queries: list[str] = []
    while len(queries) < count:
        doc = rng.choice(docs)
        query = make_query(rng, doc, pool)
        if query is None:
            continue
        try:
            parse_query(query)
        except QuerySyntaxError as exc:  # a generator bug: show it rather than hide it
            raise SystemExit(f"generated an invalid query {query!r}: {exc}") from None
        queries.append(query)
    return queries


# --- the naive baseline -------------------------------------------------------------------------


class NaiveArticle:
    """Per-article token lists and token -> positions index: the best a rule-by-rule loop gets."""

    def __init__(self, title: str | None, body: str | None, source: str | None) -> None:
        self.toks: dict[str, list[str]] = {}
        self.index: dict[str, dict[str, list[int]]] = {}
        for name, raw in (("title", title), ("body", body), ("source", source)):
            toks = token_spans(clean_text(raw))[0]
            index: dict[str, list[int]] = {}
            for i, t in enumerate(toks):
                index.setdefault(t, []).append(i)
            self.toks[name], self.index[name] = toks, index


def naive_occurrences(term, art: NaiveArticle) -> list[tuple[str, int, int]]:
    out = []
    k = len(term.tokens)
    for name in term.fields:
        toks, index = art.toks[name], art.index[name]
        if term.prefix and k == 1:
            starts = [i for word, ps in index.items() if word.startswith(term.tokens[0]) for i in ps]
        else:
            starts = index.get(term.tokens[0], [])
        for i in starts:
            window = toks[i : i + k]
            if len(window) == k and window[1:-1] == list(term.tokens[1:-1]) and (
                k == 1 or (window[-1].startswith(term.tokens[-1]) if term.prefix else window[-1] == term.tokens[-1])
            ):
                out.append((name, i, i + k))
    return out


def naive_eval(node, art: NaiveArticle) -> bool:
    from newsalert.domain.query.ast import And, Near, Not, Or, Term

    if isinstance(node, Term):
        return bool(naive_occurrences(node, art))
    if isinstance(node, And):
        return all(naive_eval(c, art) for c in node.children)
    if isinstance(node, Or):
        return any(naive_eval(c, art) for c in node.children)
    if isinstance(node, Not):
        return not naive_eval(node.child, art)
    if isinstance(node, Near):
        def occ(op):
            return [o for t in ([op] if isinstance(op, Term) else op.children) for o in naive_occurrences(t, art)]

        for a in occ(node.left):
            for b in occ(node.right):
                if a[0] == b[0] and (0 <= b[1] - a[2] <= node.distance or (not node.ordered and 0 <= a[1] - b[2] <= node.distance)):
                    return True
        return False
    raise TypeError(node)


# --- one size, in its own process -------------------------------------------------------------


# Timed passes over the BBC corpus; the best one counts (the quietest moment of a shared machine).
PASSES = 5


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def run_size(size: int, rules_file: Path, naive_sample: int, profile: bool) -> dict:
    """Parse, compile and match at ``size`` rules; the figures as a dict."""
    from newsalert.domain.matching import Engine, prepare
    from newsalert.domain.matching.terms import ArticleState
    from newsalert.domain.query.parser import parse_query
    from newsalert.domain.rulefile import CompiledRule

    queries = json.loads(rules_file.read_text(encoding="utf-8"))[:size]
    articles = _read(BBC)
    rss_start = _rss_mb()

    # CPU time (see the throughput note below); the wall time is kept for the record.
    started, wall_started = time.process_time(), time.perf_counter()
    rules = [CompiledRule(f"r{i:06d}", q, parse_query(q), (), None, i + 1) for i, q in enumerate(queries)]
    parsed = time.process_time()
    engine = Engine(rules)
    compiled, wall_compiled = time.process_time(), time.perf_counter()
    rss_compiled = _rss_mb()

    def one_pass(batch: list[dict]) -> int:
        found = 0
        for a in batch:
            found += len(engine.match(prepare(a.get("title"), a.get("body"), a.get("source"))))
        return found

    one_pass(articles[:200])  # warm-up: caches (normalise) as in a long-running matcher
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler()
        profiler.start()
        one_pass(articles)
        profiler.stop()
        print(profiler.output_text(unicode=True, color=False, show_all=False), file=sys.stderr)
    # CPU time of this process is the figure: the machine is shared (other services and test
    # runs), and wall time then measures the neighbours too. Wall time is reported beside it.
    best = best_wall = float("inf")
    matches = 0
    for _ in range(PASSES):
        t0, c0 = time.perf_counter(), time.process_time()
        matches = one_pass(articles)
        best = min(best, time.process_time() - c0)
        best_wall = min(best_wall, time.perf_counter() - t0)

    # Candidates per article (not timed): how selective the presearch is.
    # Presearch selectivity and coverage (not timed): distinct queries evaluated per article, and
    # how many rules match at least one article.
    candidates = 0
    matched_rules: set[str] = set()
    for a in articles:
        doc = prepare(a.get("title"), a.get("body"), a.get("source"))
        candidates += len(engine.candidate_programs(ArticleState(engine.table, doc)))
        matched_rules.update(m.rule_id for m in engine.match(doc))
    rules_matching = len(matched_rules)

    rss_matched = _rss_mb()
    breakdown = _breakdown(engine, articles)

    sample = articles[: max(1, min(naive_sample, len(articles)))]
    t0 = time.perf_counter()
    naive = []
    for a in sample:
        art = NaiveArticle(a.get("title"), a.get("body"), a.get("source"))
        naive.append([r.id for r in rules if naive_eval(r.node, art)])
    naive_seconds = time.perf_counter() - t0
    engine_ids = [[m.rule_id for m in engine.match(prepare(a.get("title"), a.get("body"), a.get("source")))] for a in sample]
    return {
        "rules": size,
        "parse_s": parsed - started,
        "compile_s": compiled - parsed,
        "compile_wall_s": wall_compiled - wall_started,
        "patterns": engine.table.pattern_count,
        "distinct_queries": engine.program_count,
        "terms": len(engine.table),
        "articles": len(articles),
        "articles_per_s": len(articles) / best,
        "wall_articles_per_s": len(articles) / best_wall,
        "ms_per_article": best / len(articles) * 1000,
        "load_average": os.getloadavg()[0],
        "matches_per_article": matches / len(articles),
        "candidates_per_article": candidates / len(articles),
        "rules_matching_any": rules_matching,
        "rss_start_mb": rss_start,
        "rss_compiled_mb": rss_compiled,
        "rss_peak_mb": rss_matched,
        "naive_sample": len(sample),
        "naive_articles_per_s": len(sample) / naive_seconds,
        "naive_agrees": naive == engine_ids,
        **breakdown,
    }


def _breakdown(engine, articles: list[dict]) -> dict:
    """Where one article's CPU time goes, in microseconds: cleaning and tokenising, the automaton
    pass (and the set of terms present), the presearch, and exact evaluation with highlights."""
    from newsalert.domain.matching import prepare
    from newsalert.domain.matching.terms import ArticleState

    def cpu(work) -> float:
        best = float("inf")
        for _ in range(2):
            c0 = time.process_time()
            work()
            best = min(best, time.process_time() - c0)
        return best / len(articles) * 1e6

    prepare_us = cpu(lambda: [prepare(a.get("title"), a.get("body"), a.get("source")) for a in articles])
    docs = [prepare(a.get("title"), a.get("body"), a.get("source")) for a in articles]
    state_us = cpu(lambda: [ArticleState(engine.table, d) for d in docs])
    presearch_us = cpu(lambda: [engine.candidate_programs(ArticleState(engine.table, d)) for d in docs]) - state_us
    match_us = cpu(lambda: [engine.match(d) for d in docs])
    return {
        "prepare_us": prepare_us,
        "automaton_us": state_us,
        "presearch_us": max(0.0, presearch_us),
        "evaluate_us": max(0.0, match_us - state_us - presearch_us),
    }


# Hand-written reading of the figures; kept in the script so that a re-run keeps it.
NOTES = """
Reading the figures (profiled with pyinstrument and cProfile before each change):

- The engine's cost does not follow the rule count but the article and the output. Per article
  there is a fixed part (cleaning and tokenising, about 0.1-0.2 ms; the automaton pass over the
  ~2,200-character token haystack, which grows from ~50 to ~170 µs with the automaton's size because
  a bigger trie misses the CPU caches and reports more hits: ~25, ~90, ~220 hits per article at 1k,
  10k, 100k rules) and a part proportional to the matches (evaluation, highlight keys, Highlight
  and RuleMatch objects: some tens of µs per matching distinct query; the first highlight of an
  article also pays for its token offsets and hit positions).
- The generated rule sets match a constant share of articles per rule, so matches per article grow
  100-fold from 1k to 100k rules (0.4 -> ~45): that, not candidate evaluation, is why throughput at
  100k is below a quarter of that at 1k. The presearch keeps evaluation close to the output: with
  single anchors 100k rules gave ~1,200 candidates per article; indexing AND/NEAR rules by pairs of
  their two rarest requirements and evaluating identical queries once brought it to ~33 evaluated
  queries for ~45 matches.
- Done, in order of effect: tokeniser (a byte table + split instead of a regex per token, offsets
  only when a highlight needs them, about 4x), clean_text whitespace rule with split/join (7x),
  pair presearch, deduplicated queries, hits located and highlight keys built with C-level
  map/sort/bisect instead of Python loops. Tried and dropped: replacing tokens no rule can use by
  a placeholder to shorten the automaton input (the automaton pass got 40% faster, the per-token
  mapping cost as much); corpus document frequencies for anchor choice (no gain once pairs exist).
- The targets for 10k and 100k rules are missed by the factors the targets lines give. What is
  left is CPython's per-object cost on the fixed part and on each match; reaching them needs the
  per-article loop in compiled code (hyperscan, or the aho-corasick Rust crate through its Python
  binding, plus a C tokeniser) or the stream split over both cores (the matcher scales out by
  partition; each process then needs half the rate).
- The machine was shared with other services and test runs while measuring (load average column).
  CPU-time throughput is the best of the passes; separate runs varied by up to about 30%.
"""

# --- report -------------------------------------------------------------------------------------


def render(rows: list[dict], command: str, seed: int) -> str:
    """The markdown section for docs/benchmarks.md."""
    lines = [
        SECTION,
        "",
        f"Command: `{command}` (seed {seed}; each size in a fresh single-threaded process; "
        f"{os.cpu_count()}-core machine, Python {sys.version.split()[0]}).",
        "",
        "Throughput is end to end per article: clean + tokenise title, body and source, one "
        "Aho-Corasick pass per field, presearch, exact evaluation of the candidates, highlights. "
        f"Best of {PASSES} passes over the 2,225 BBC articles after a 200-article warm-up, measured as CPU "
        "time of the process (the 2-core machine is shared with other services and test runs: the load "
        "average column shows how busy it was, and wall-clock throughput is given beside). "
        "Compile = parse every query + build the engine (automaton, anchor index, programs), CPU "
        "seconds too. Peak RSS is measured after the timed passes (engine, corpus and matching).",
        "",
        "| rules (distinct) | BBC articles/s (1 core, CPU time) | wall articles/s | CPU ms/article | parse s (CPU) | engine compile s (CPU) | distinct patterns | "
        "matches/article | queries evaluated/article | rules matching ≥1 article | peak RSS MB | naive articles/s (sample) | naive = engine | load avg |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['rules']:,} ({r['distinct_queries']:,}) | {r['articles_per_s']:,.0f} | {r['wall_articles_per_s']:,.0f} | {r['ms_per_article']:.2f} | {r['parse_s']:.2f} | "
            f"{r['compile_s']:.2f} | {r['patterns']:,} | {r['matches_per_article']:.1f} | {r['candidates_per_article']:.1f} | "
            f"{r['rules_matching_any']:,} | {r['rss_peak_mb']:.0f} | {r['naive_articles_per_s']:,.1f} (n={r['naive_sample']}) | "
            f"{'yes' if r['naive_agrees'] else 'NO'} | {r['load_average']:.1f} |"
        )
    lines += [
        "",
        "Where the CPU time of one article goes (µs, one more pass; same process):",
        "",
        "| rules | clean + tokenise | automaton pass + terms present | presearch | evaluate + highlights |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['rules']:,} | {r['prepare_us']:.0f} | {r['automaton_us']:.0f} | {r['presearch_us']:.0f} | {r['evaluate_us']:.0f} |"
        )
    lines += ["", *targets(rows), "", NOTES.strip(), ""]
    return "\n".join(lines)


def targets(rows: list[dict]) -> list[str]:
    """The issue's targets, each with the measured figure and whether it is met."""
    by = {r["rules"]: r for r in rows}
    out = ["Targets:", ""]

    def line(ok: bool, text: str) -> None:
        out.append(f"- {'met' if ok else 'MISSED'}: {text}")

    if 100_000 in by:
        r = by[100_000]
        line(r["articles_per_s"] >= 1000, f"100k rules ≥ 1,000 BBC articles/s on one core: {r['articles_per_s']:,.0f}/s")
        total = r["parse_s"] + r["compile_s"]
        line(total < 10, f"100k rules compile < 10 s: {total:.1f} s (parse {r['parse_s']:.1f} + engine {r['compile_s']:.1f})")
        line(r["rss_peak_mb"] < 1024, f"100k rules < 1 GB: peak RSS {r['rss_peak_mb']:.0f} MB (process, including the corpus)")
    if 10_000 in by:
        r = by[10_000]
        line(r["articles_per_s"] >= 3000, f"10k rules ≥ 3,000 BBC articles/s: {r['articles_per_s']:,.0f}/s")
    if 1_000 in by and 100_000 in by:
        ratio = by[100_000]["articles_per_s"] / by[1_000]["articles_per_s"]
        line(ratio >= 0.25, f"throughput at 100k ≥ 1/4 of that at 1k: {ratio:.2f}")
    return out


def write_section(text: str) -> None:
    """Replace (or add, first) this benchmark's section of docs/benchmarks.md, keeping the others."""
    current = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n\n"
    start = current.find(SECTION)
    if start == -1:
        heading_end = current.find("\n## ")
        insert_at = len(current) if heading_end == -1 else heading_end + 1
        updated = current[:insert_at].rstrip("\n") + "\n\n" + text + "\n" + current[insert_at:]
    else:
        end = current.find("\n## ", start + len(SECTION))
        updated = current[:start] + text + ("\n" + current[end + 1 :] if end != -1 else "")
    DOC.write_text(updated.rstrip("\n") + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000", help="comma-separated rule counts")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--naive-budget", type=int, default=2_000_000, help="rules x articles for the naive loop")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    parser.add_argument("--profile", type=int, metavar="SIZE", help="profile the match loop at SIZE rules (pyinstrument)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--rules-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--generate", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.generate:
        # In its own process: the corpus statistics must not count in the measured processes'
        # peak RSS (ru_maxrss survives fork and exec).
        args.rules_file.write_text(json.dumps(generate(args.generate, args.seed)), encoding="utf-8")
        return
    if args.child:
        sample = max(10, min(300, args.naive_budget // args.child))
        print(json.dumps(run_size(args.child, args.rules_file, sample, args.profile is not None)))
        return
    for path in (BBC, REUTERS):
        if not path.exists():
            raise SystemExit(f"corpus not found: {path} (see ../shared/README.md)")
    sizes = [args.profile] if args.profile else [int(s) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rules_file = Path(tmp) / "rules.json"
        t0 = time.perf_counter()
        generate_cmd = [sys.executable, __file__, "--generate", str(max(sizes)), "--seed", str(args.seed), "--rules-file", str(rules_file)]
        subprocess.run(generate_cmd, check=True)
        print(f"generated {max(sizes):,} rules in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        for size in sizes:
            cmd = [sys.executable, __file__, "--child", str(size), "--rules-file", str(rules_file), "--naive-budget", str(args.naive_budget)]
            if args.profile:
                cmd += ["--profile", str(size)]
            out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), file=sys.stderr)
    command = "python benchmarks/rules_bench.py " + " ".join(sys.argv[1:])
    text = render(rows, command.strip(), args.seed)
    print(text)
    if not args.no_write and not args.profile:
        write_section(text)


if __name__ == "__main__":
    main()
