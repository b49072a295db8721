"""Hot reload of the rule file across matcher workers, on the real broker.

Two ``newsalert serve matcher`` workers of one group share the ``articles`` partitions and watch
the same rule file. Changing the file makes them publish the new snapshot to the compacted
``rules`` topic; both switch to it without a restart and match the next articles with it, and
every alert names the version it was matched with. A broken file is refused with located errors
in the log, and matching goes on with the last good version.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from newsalert.adapters.topics import ensure_topics
from newsalert.config import Settings
from newsalert.domain.rulefile import load_rule_text
from newsalert.schemas import Alert
from tests.e2e.matcher_procs import SECRET, article, health, publish_articles, start_matcher, wait_consumed
from tests.integration.topic_reader import read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]


def rules_text(query: str) -> str:
    return f"""\
subscribers:
  - id: desk
    url: http://127.0.0.1:9/hooks/desk
    secret: {SECRET}
rules:
  - id: city
    query: {query}
    notify: [desk]
"""


BROKEN = rules_text("Paris") + """\
  - id: bad
    query: '(Berlin AND'
    notify: [nobody]
"""


def wait_version(workers, version: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(health(w)[1].get("ruleset_version") == version for w in workers):
            return
        time.sleep(0.25)
    raise AssertionError(f"not every worker switched to {version}: {[health(w)[1].get('ruleset_version') for w in workers]}")


def wait_split(workers, partitions: int, timeout: float = 60.0) -> None:
    """Wait until the workers hold all partitions between them, each at least one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        held = [set(health(w)[1].get("assigned") or ()) for w in workers]
        if all(held) and len(set().union(*held)) == partitions and sum(map(len, held)) == partitions:
            return
        time.sleep(0.25)
    raise AssertionError(f"partitions not split between the workers: {held}")


async def alerts(settings: Settings, expected: int) -> list[Alert]:
    records = await read_topic(settings.kafka_bootstrap, settings.topic("matches"), expected=expected, timeout=60, settle=2)
    return [Alert.model_validate_json(r.value) for r in records]


async def test_a_changed_file_is_applied_by_both_workers_to_the_next_articles(kafka_settings: Settings, tmp_path: Path):
    await ensure_topics(kafka_settings)
    rules = tmp_path / "rules.yaml"
    rules.write_text(rules_text("Paris"))
    v1 = load_rule_text(rules_text("Paris"), env={}).version
    v2 = load_rule_text(rules_text("Berlin"), env={}).version
    workers = [start_matcher(kafka_settings, rules, tmp_path, name=f"matcher-{i}") for i in (1, 2)]
    try:
        wait_split(workers, kafka_settings.articles_partitions)
        await publish_articles(kafka_settings, [article(f"p{i}", f"News from Paris {i}") for i in range(20)])
        first = await alerts(kafka_settings, 20)
        assert {(a.article.id, a.ruleset_version) for a in first} == {(f"p{i}", v1) for i in range(20)}

        rules.write_text(rules_text("Berlin"))
        wait_version(workers, v2)
        before = [health(w)[1]["consumed"] for w in workers]
        batch = [article(f"b{i}", f"News from Berlin {i}") for i in range(20)]
        batch += [article(f"q{i}", f"More news from Paris {i}") for i in range(20)]
        await publish_articles(kafka_settings, batch)
        wait_consumed_total(workers, sum(before) + 40)
        after = [health(w)[1]["consumed"] for w in workers]
        assert all(a > b for a, b in zip(after, before)), f"a worker got none of the new articles: {before} -> {after}"
        new = [a for a in await alerts(kafka_settings, 40) if not a.article.id.startswith("p")]
        assert sorted((a.article.id, a.rule.id, a.ruleset_version) for a in new) == sorted((f"b{i}", "city", v2) for i in range(20))
    finally:
        for w in workers:
            w.stop()


def wait_consumed_total(workers, total: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(health(w)[1].get("consumed", 0) for w in workers) >= total:
            return
        time.sleep(0.25)
    raise AssertionError(f"the workers did not consume {total} articles in {timeout:.0f} s")


async def test_a_broken_file_keeps_the_last_good_rules(kafka_settings: Settings, tmp_path: Path):
    await ensure_topics(kafka_settings)
    rules = tmp_path / "rules.yaml"
    rules.write_text(rules_text("Paris"))
    v1 = load_rule_text(rules_text("Paris"), env={}).version
    worker = start_matcher(kafka_settings, rules, tmp_path)
    try:
        rules.write_text(BROKEN)
        deadline = time.monotonic() + 30
        while "is not valid" not in worker.log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.25)
        log = worker.log_path.read_text()
        assert "is not valid (2 problem(s))" in log, worker.log_tail()
        assert f"{rules}:10:21:" in log  # the dangling AND of the query, at its character
        assert f"{rules}:11:14:" in log and "unknown subscriber 'nobody'" in log
        await publish_articles(kafka_settings, [article(f"p{i}", f"News from Paris {i}") for i in range(5)])
        wait_consumed(worker, 5)
        got = await alerts(kafka_settings, 5)
        assert sorted((a.article.id, a.ruleset_version) for a in got) == sorted((f"p{i}", v1) for i in range(5))
        assert health(worker)[1]["ruleset_version"] == v1
    finally:
        assert worker.stop() == 0
