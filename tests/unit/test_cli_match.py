"""``newsalert match``: input formats, output order and shape, invalid articles, rule-file errors,
``--explain``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsalert.cli import main

RULES = """\
subscribers:
  - id: asia-desk
    url: https://hooks.example.org/asia
    secret: ${NEWSALERT_TEST_UNSET_SECRET}
rules:
  - id: nk-missiles
    query: '"North Korea" AND missile*'
    notify: [asia-desk]
  - id: korea
    query: 'Korea -Iran'
"""

A1 = {"id": "a1", "title": "North Korea fires missiles", "body": "Seoul said <b>two</b> missiles flew."}
A2 = {"id": "a2", "title": "Weather", "body": "Sunny."}
A3 = {"id": "a3", "body": "South Korea and Iran talks"}
A4 = {"id": "a4", "title": "Korea", "body": "AT&amp;T in South-Korea? <i>Yes</i>."}


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES, encoding="utf-8")
    return path


def invoke(*args: str, stdin: str | None = None):
    return CliRunner().invoke(main, ["match", *args], input=stdin, catch_exceptions=False)


def records(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines()]


def pairs(output: str) -> list[tuple[str, str]]:
    return [(r["article_id"], r["rule_id"]) for r in records(output)]


def test_json_lines_file_gives_one_line_per_match_in_article_then_rule_order(rules_file, tmp_path):
    articles = tmp_path / "in.jsonl"
    articles.write_text("\n".join(json.dumps(a) for a in (A1, A2, A3, A4)) + "\n", encoding="utf-8")
    result = invoke("--rules", str(rules_file), str(articles))
    assert result.exit_code == 0, result.stderr
    assert pairs(result.stdout) == [("a1", "nk-missiles"), ("a1", "korea"), ("a4", "korea")]
    first = records(result.stdout)[0]
    assert set(first) == {"article_id", "rule_id", "notify", "highlights"}
    assert first["notify"] == ["asia-desk"]
    assert first["highlights"] == [
        {"field": "title", "text": "North Korea", "start": 0, "end": 11},
        {"field": "title", "text": "missiles", "start": 18, "end": 26},
        {"field": "body", "text": "missiles", "start": 15, "end": 23},  # "Seoul said two missiles flew."
    ]


def test_highlight_offsets_point_into_the_cleaned_text(rules_file):
    result = invoke("--rules", str(rules_file), stdin=json.dumps(A4))
    (record,) = records(result.stdout)
    body = "AT&T in South-Korea? Yes ."  # A4's body after cleaning
    (title_hl, body_hl) = record["highlights"]
    assert title_hl == {"field": "title", "text": "Korea", "start": 0, "end": 5}
    assert body[body_hl["start"] : body_hl["end"]] == body_hl["text"] == "Korea"


def test_json_array_and_directory_and_stdin(rules_file, tmp_path):
    array = tmp_path / "arr.json"
    array.write_text(json.dumps([A3, A1], indent=2), encoding="utf-8")
    folder = tmp_path / "dir"
    folder.mkdir()
    (folder / "1.json").write_text(json.dumps(A4), encoding="utf-8")
    (folder / "2.json").write_text(json.dumps(A1), encoding="utf-8")
    (folder / "notes.txt").write_text("not an article", encoding="utf-8")
    assert pairs(invoke("--rules", str(rules_file), str(array)).stdout) == [("a1", "nk-missiles"), ("a1", "korea")]
    assert pairs(invoke("--rules", str(rules_file), str(folder)).stdout) == [("a4", "korea"), ("a1", "nk-missiles"), ("a1", "korea")]
    stdin = json.dumps(A4) + "\n" + json.dumps(A1) + "\n"
    assert pairs(invoke("--rules", str(rules_file), stdin=stdin).stdout) == [("a4", "korea"), ("a1", "nk-missiles"), ("a1", "korea")]
    assert pairs(invoke("--rules", str(rules_file), "-", stdin=stdin).stdout) == [("a4", "korea"), ("a1", "nk-missiles"), ("a1", "korea")]


def test_invalid_lines_are_reported_with_line_numbers_and_skipped(rules_file, tmp_path):
    articles = tmp_path / "in.jsonl"
    lines = [json.dumps(A1), "{not json", json.dumps({"title": "Korea, no id"}), json.dumps(A4)]
    articles.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = invoke("--rules", str(rules_file), str(articles))
    assert result.exit_code == 1
    assert pairs(result.stdout) == [("a1", "nk-missiles"), ("a1", "korea"), ("a4", "korea")]
    errors = result.stderr.splitlines()
    assert errors[0].startswith(f"{articles}:2:")
    assert errors[1].startswith(f"{articles}:3:") and "id" in errors[1]
    assert len(errors) == 2


def test_missing_article_path_is_an_error_but_others_are_matched(rules_file, tmp_path):
    good = tmp_path / "a.json"
    good.write_text(json.dumps(A1), encoding="utf-8")
    result = invoke("--rules", str(rules_file), str(tmp_path / "absent.jsonl"), str(good))
    assert result.exit_code == 1
    assert "absent.jsonl" in result.stderr
    assert pairs(result.stdout) == [("a1", "nk-missiles"), ("a1", "korea")]


def test_rule_file_errors_are_located(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - id: r1\n    query: 'Korea AND (missiles'\n", encoding="utf-8")
    result = invoke("--rules", str(bad), stdin=json.dumps(A1))
    assert result.exit_code == 1
    assert result.stdout == ""
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"{bad}:3:")
    line, column = first.split(":")[1:3]
    assert line == "3" and int(column) > 12  # the column is inside the query, not the line start


def test_explain_adds_query_and_where_terms_were_found(rules_file):
    result = invoke("--rules", str(rules_file), "--explain", stdin=json.dumps(A1))
    first, second = records(result.stdout)
    assert first["explain"]["query"] == '"North Korea" AND missile*'
    terms = {t["term"]: t for t in first["explain"]["terms"]}
    assert [h["field"] for h in terms["missile*"]["found"]] == ["title", "body"]
    iran = [t for t in second["explain"]["terms"] if t["term"] == "Iran"][0]
    assert iran["negated"] is True and iran["found"] == []
    assert "explain" not in records(invoke("--rules", str(rules_file), stdin=json.dumps(A1)).stdout)[0]


def test_seed_article_matches(rules_file):
    seed = Path(__file__).resolve().parents[2] / "seeds" / "articles"
    if not seed.is_dir():
        pytest.skip(f"converted seed articles not found in {seed}")
    result = invoke("--rules", str(rules_file), str(seed))
    assert result.exit_code == 0, result.stderr
    assert ("000_55da5f90b11d3137", "nk-missiles") in pairs(result.stdout)
