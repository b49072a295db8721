"""``newsalert replay`` as a user runs it (a real process) against the real broker: what it
publishes, what it reports, its exit status, --limit, --loop and --rate."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from newsalert.adapters.processes import free_port, newsalert_executable
from newsalert.config import Settings

from .topic_reader import read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]


def _replay(args: list[str], bootstrap: str, prefix: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "NEWSALERT_KAFKA_BOOTSTRAP": bootstrap, "NEWSALERT_TOPIC_PREFIX": prefix}
    return subprocess.run([newsalert_executable(), "replay", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _published(bootstrap: str, prefix: str, expected: int, settle: float = 1.0) -> list:
    topic = Settings(topic_prefix=prefix).topic("articles")
    return asyncio.run(read_topic(bootstrap, topic, expected, settle=settle))


def _write_lines(path: Path, items: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((item if isinstance(item, str) else json.dumps(item)) + "\n" for item in items))


@pytest.fixture
def seeds_like(tmp_path: Path) -> Path:
    """A seeds/ folder: a JSON Lines stream with one invalid and one malformed line, a JSON array,
    and a single-article JSON file in a sub-folder."""
    seeds = tmp_path / "seeds"
    _write_lines(seeds / "stream.jsonl", [
        {"id": "s1", "title": "AT&amp;T <b>deal</b>"},
        {"id": "s2", "body": '< p class="x">North Korea< /p>'},
        {"id": "s3", "published": "not a date"},
        '{"id": "s4",',
        {"id": "s5"},
    ])
    (seeds / "batch.json").write_text(json.dumps([{"id": "a1"}, {"id": "a2"}], indent=2))
    (seeds / "articles").mkdir()
    (seeds / "articles" / "000_one.json").write_text(json.dumps({"id": "one", "title": "One"}, indent=2))
    (seeds / "rules.yaml").write_text("not: articles\n")
    return seeds


def test_default_seeds_published_cleaned_and_invalid_reported(kafka_bootstrap, topic_prefix, seeds_like: Path):
    result = _replay([], kafka_bootstrap, topic_prefix, cwd=seeds_like.parent)
    assert result.returncode == 1, result.stderr
    assert "seeds/stream.jsonl:3 (id 's3'): published:" in result.stderr
    assert "seeds/stream.jsonl:4:" in result.stderr and "invalid JSON" in result.stderr
    assert "published 6 articles" in result.stdout and "2 invalid" in result.stdout

    records = _published(kafka_bootstrap, topic_prefix, 6)
    by_id = {r.key.decode(): json.loads(r.value) for r in records}
    assert sorted(by_id) == ["a1", "a2", "one", "s1", "s2", "s5"] and len(records) == 6
    assert by_id["s1"]["title"] == "AT&T deal"
    assert by_id["s2"]["body"] == "North Korea"


def test_all_valid_exits_zero_and_limit_stops_early(kafka_bootstrap, topic_prefix, tmp_path: Path):
    _write_lines(tmp_path / "a.jsonl", [{"id": f"n{i}"} for i in range(10)])
    result = _replay([str(tmp_path / "a.jsonl"), "--limit", "4"], kafka_bootstrap, topic_prefix, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "published 4 articles" in result.stdout
    records = _published(kafka_bootstrap, topic_prefix, 4, settle=2.0)
    assert [r.key for r in sorted(records, key=lambda r: r.key)] == [b"n0", b"n1", b"n2", b"n3"]
    # Cleaned here, so the matcher does not clean again (entity-encoded markup stays text).
    assert all(list(r.headers) == [("newsalert-cleaned", b"1")] for r in records)


def test_loop_repeats_until_the_limit(kafka_bootstrap, topic_prefix, tmp_path: Path):
    _write_lines(tmp_path / "a.jsonl", [{"id": "x"}, {"id": "y"}, {"id": "bad", "title": []}])
    result = _replay([str(tmp_path), "--loop", "--limit", "7"], kafka_bootstrap, topic_prefix, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.count("a.jsonl:3") == 1, "an invalid record is reported once, not once per pass"
    records = _published(kafka_bootstrap, topic_prefix, 7, settle=2.0)
    assert sorted(r.key for r in records) == [b"x"] * 4 + [b"y"] * 3


def test_rate_paces_publishing(kafka_bootstrap, topic_prefix, tmp_path: Path):
    _write_lines(tmp_path / "a.jsonl", [{"id": f"r{i}"} for i in range(40)])
    started = time.monotonic()
    result = _replay([str(tmp_path), "--rate", "20"], kafka_bootstrap, topic_prefix, cwd=tmp_path)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    # 40 articles at 20/s take about 2 s: the order of magnitude, not the exact timing.
    assert 1.5 < elapsed < 20, elapsed
    assert len(_published(kafka_bootstrap, topic_prefix, 40)) == 40


def test_unreachable_broker_exits_two(topic_prefix, tmp_path: Path):
    _write_lines(tmp_path / "a.jsonl", [{"id": "x"}])
    result = _replay([str(tmp_path)], f"127.0.0.1:{free_port()}", topic_prefix, cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    assert "cannot publish to Kafka" in result.stderr


def test_missing_path_exits_two_naming_it(topic_prefix, tmp_path: Path):
    result = _replay([str(tmp_path / "nope.jsonl")], "127.0.0.1:1", topic_prefix, cwd=tmp_path)
    assert result.returncode == 2
    assert "nope.jsonl: no such file or directory" in result.stderr
