"""The end-to-end benchmark's pure helpers: latency percentiles, receipt parsing, profile
grouping, and rewriting only its own section of docs/benchmarks.md."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import pipeline_bench  # noqa: E402
import pipeline_report  # noqa: E402


def test_percentiles_nearest_rank_in_milliseconds():
    latencies = [i / 1000 for i in range(1, 101)]  # 1 .. 100 ms
    got = pipeline_bench.percentiles(latencies)
    assert got == pytest.approx({"p50": 50, "p95": 95, "p99": 99, "max": 100})
    assert pipeline_bench.percentiles([]) == {}


def test_receipts_count_first_arrivals_and_repeats(tmp_path):
    path = tmp_path / "received.tsv"
    path.write_text("10.5\tmsg_a\tart-1\n10.9\tmsg_b\tart-2\n11.0\tmsg_a\tart-1\n")
    latencies, duplicates, last = pipeline_bench.read_receipts(path, {"art-1": 10.0, "art-2": 10.4})
    assert latencies == pytest.approx([0.5, 0.5])
    assert duplicates == 1
    assert last == pytest.approx(10.9)


def test_article_template_puts_the_id_in_valid_json(tmp_path):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"id": "orig", "title": "T", "body": "<p>Body</p>", "source": "S"}\n{"title": "no id"}\n')
    (template,) = pipeline_bench.load_articles((corpus,))
    import json

    article = json.loads(template.encode("phase-7"))
    assert article["id"] == "phase-7" and article["title"] == "T [phase-7]" and "<p>" not in article["body"]


def test_missing_corpus_names_the_file(tmp_path):
    with pytest.raises(SystemExit, match="corpus not found: .*absent.jsonl"):
        pipeline_bench.load_articles((tmp_path / "absent.jsonl",))


def test_frame_package_groups_our_code_by_subpackage():
    assert pipeline_bench.frame_package("match (newsalert/domain/matching/engine.py:12)") == "newsalert/domain/matching"
    assert pipeline_bench.frame_package("model_dump_json (pydantic/main.py:587)") == "pydantic"
    assert pipeline_bench.frame_package("select (selectors.py:468)") == "selectors"


def test_write_section_replaces_only_its_own_section(tmp_path, monkeypatch):
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n## Matching engine\n\nengine table\n\n"
                   f"{pipeline_report.SECTION}\n\nold figures\n\n## Later section\n\nkept\n")
    monkeypatch.setattr(pipeline_report, "DOC", doc)
    pipeline_report.write_section(f"{pipeline_report.SECTION}\n\nnew figures\n")
    text = doc.read_text()
    assert "engine table" in text and "kept" in text and "new figures" in text
    assert "old figures" not in text
    assert text.index("Matching engine") < text.index("new figures") < text.index("Later section")


def test_write_section_appends_when_absent(tmp_path, monkeypatch):
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n## Matching engine\n\nengine table\n")
    monkeypatch.setattr(pipeline_report, "DOC", doc)
    pipeline_report.write_section(f"{pipeline_report.SECTION}\n\nfigures\n")
    text = doc.read_text()
    assert text.index("engine table") < text.index(pipeline_report.SECTION)


def test_expected_alerts_follow_the_engine_and_cycle_the_corpus(tmp_path):
    from expected_alerts import ExpectedAlerts

    from newsalert.domain.delivery.ids import webhook_id

    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"id": "a", "title": "Zebrafish news", "body": "x"}\n{"id": "b", "title": "Other", "body": "y"}\n')
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "subscribers:\n"
        "  - id: s1\n    url: http://127.0.0.1:9/hooks/s1\n    secret: whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n"
        "rules:\n  - id: z\n    query: zebrafish\n    notify: [s1]\n"
    )
    expected = ExpectedAlerts(rules, pipeline_bench.load_articles((corpus,)))
    # seq 0 and 2 carry article "a" (the corpus cycles), seq 1 carries "b", which matches nothing
    assert expected.webhook_ids("run-p", 3) == {webhook_id("run-p-0", "z", "s1"), webhook_id("run-p-2", "z", "s1")}
