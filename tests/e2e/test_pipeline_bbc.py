"""The whole pipeline on a real corpus: the 2,225 BBC articles against a few hundred generated
rules; every alert that the offline ``newsalert match`` predicts must reach the receiver.

The corpus is read from ``../shared/data`` at run time (never copied into the repository); the
test skips with a clear message when it is absent.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections import Counter
from pathlib import Path

import pytest

from newsalert.domain.delivery.ids import webhook_id

from .conftest import REPO, expected_alerts

BBC = REPO.parent / "shared" / "data" / "bbc.jsonl"
SUBSCRIBERS = ("desk-a", "desk-b", "desk-c")
SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # test-only key


def _generate_rules(articles: list[dict], seed: int = 7) -> list[str]:
    """A few hundred realistic queries drawn from the corpus: words, entity phrases, ANDs,
    wildcards and a NOT, each matching a modest number of articles."""
    rng = random.Random(seed)
    word_df: Counter = Counter()
    phrase_df: Counter = Counter()
    for article in articles:
        body = article.get("body") or ""
        word_df.update(set(re.findall(r"\b[a-z]{6,12}\b", body)))
        phrase_df.update(set(re.findall(r"\b([A-Z][a-z]{3,}) ([A-Z][a-z]{3,})\b", body)))
    words = sorted(w for w, n in word_df.items() if 4 <= n <= 25)
    phrases = sorted(f"{a} {b}" for (a, b), n in phrase_df.items() if 4 <= n <= 25)
    queries = [w for w in rng.sample(words, 120)]
    queries += [f'"{p}"' for p in rng.sample(phrases, 100)]
    queries += [f"{a} AND {b}" for a, b in zip(rng.sample(words, 40), rng.sample(words, 40))]
    queries += [f"{w[:5]}*" for w in rng.sample([w for w in words if len(w) >= 8], 30)]
    queries += [f'title:{w} NOT "{p}"' for w, p in zip(rng.sample(words, 10), rng.sample(phrases, 10))]
    return queries


def _write_rule_file(path: Path, queries: list[str], receiver) -> None:
    lines = ["subscribers:"]
    for sub in SUBSCRIBERS:
        lines += [f"  - id: {sub}", f"    url: {receiver.url(sub)}", f"    secret: {SECRET}"]
    lines.append("rules:")
    for i, query in enumerate(queries):
        lines += [f"  - id: r{i:03d}", f"    query: {json.dumps(query)}", f"    notify: [{SUBSCRIBERS[i % len(SUBSCRIBERS)]}]"]
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.kafka
@pytest.mark.corpus
def test_bbc_corpus_every_expected_alert_is_delivered(pipeline, receiver, tmp_path):
    if not BBC.exists():
        pytest.skip(f"corpus not found at {BBC}: this test needs ../shared/data/bbc.jsonl")
    articles = [json.loads(line) for line in BBC.read_text().splitlines() if line.strip()]
    assert len(articles) == 2225
    rules = tmp_path / "rules.yaml"
    _write_rule_file(rules, _generate_rules(articles), receiver)
    pipeline.cli("rules", "check", str(rules))

    expected = expected_alerts(pipeline, rules, BBC)
    expected_ids = {webhook_id(a, r, s) for (a, r), subs in expected.items() for s in subs}
    assert 1000 <= len(expected_ids) <= 50_000, f"generated rules give {len(expected_ids)} alerts: not a useful test"

    started = time.monotonic()
    pipeline.start("matcher", "--rules", str(rules))
    pipeline.start("notifier", "--rules", str(rules))
    pipeline.cli("replay", str(BBC))
    missing = receiver.wait_for_ids(expected_ids, timeout=420)
    elapsed = time.monotonic() - started

    counts = receiver.webhook_ids()
    assert not missing, f"{len(missing)} of {len(expected_ids)} expected alerts never arrived"
    unexpected = set(counts) - expected_ids
    assert not unexpected, f"{len(unexpected)} alerts that the offline match does not predict"
    duplicates = sum(n - 1 for n in counts.values())
    print(
        f"BBC corpus: {len(articles)} articles, {len(expected_ids)} alerts expected, {len(counts)} delivered, "
        f"{duplicates} duplicates, {elapsed:.1f} s from service start to the last alert"
    )
