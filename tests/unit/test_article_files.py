"""Reading article records from files and text: formats, locations and located errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from newsalert.adapters.article_files import (
    ParseError,
    RawItem,
    discover,
    parse_document,
    read_file,
    read_paths,
)
from newsalert.errors import InputError


def _summary(parsed) -> list[tuple]:
    """(kind, line, index, value-or-message) per item, compact enough to compare whole."""
    out = []
    for p in parsed:
        if isinstance(p, RawItem):
            out.append(("item", p.location.line, p.location.index, p.value))
        else:
            out.append(("error", p.location.line, p.location.index, p.message))
    return out


def test_json_lines_locates_each_line_and_skips_blank_ones():
    text = '{"id": "a"}\n\n{"id": "b"}\n{"id": "c"}\n'
    assert _summary(parse_document(text, "s")) == [
        ("item", 1, 0, {"id": "a"}),
        ("item", 3, 1, {"id": "b"}),
        ("item", 4, 2, {"id": "c"}),
    ]


def test_malformed_json_line_is_an_error_for_that_line_only():
    text = '{"id": "a"}\n{"id": "b",}\n{"id": "c"}'
    result = list(parse_document(text, "f.jsonl"))
    assert [type(p) for p in result] == [RawItem, ParseError, RawItem]
    error = result[1]
    assert error.location.line == 2 and error.column is not None
    assert error.describe().startswith("f.jsonl:2:")
    assert result[2].value == {"id": "c"}


def test_json_lines_whose_bad_line_breaks_the_heuristic_still_reads_the_rest():
    # "{bad" does not end with "}": detection falls back after parsing the first value.
    text = '{"id": "a"}\n{bad\n{"id": "c"}'
    assert _summary(parse_document(text, "s")) == [
        ("item", 1, 0, {"id": "a"}),
        ("error", 2, 1, "invalid JSON: Expecting property name enclosed in double quotes"),
        ("item", 3, 2, {"id": "c"}),
    ]


def test_array_elements_are_located_at_their_first_line():
    text = '[\n  {"id": "a",\n   "title": "t"},\n\n  {"id": "b"}\n]\n'
    result = list(parse_document(text, "arr.json"))
    assert _summary(result) == [
        ("item", 2, 0, {"id": "a", "title": "t"}),
        ("item", 5, 1, {"id": "b"}),
    ]
    assert json.loads(result[0].text) == {"id": "a", "title": "t"}


def test_syntax_error_in_array_is_located_and_keeps_earlier_elements():
    text = '[{"id": "a"},\n {"id": }]'
    result = list(parse_document(text, "arr.json"))
    assert isinstance(result[0], RawItem)
    assert isinstance(result[1], ParseError)
    assert (result[1].location.line, result[1].column, result[1].location.index) == (2, 9, 1)


@pytest.mark.parametrize(
    "text, message",
    [
        ('[{"id": "a"} {"id": "b"}]', "expected ',' or ']'"),
        ('[{"id": "a"}] trailing', "unexpected data after the end"),
        ('[{"id": "a"},]', "Expecting value"),
    ],
)
def test_array_syntax_errors(text, message):
    errors = [p for p in parse_document(text, "s") if isinstance(p, ParseError)]
    assert len(errors) == 1 and message in errors[0].message


def test_single_pretty_printed_object_is_one_item():
    text = '{\n  "id": "a",\n  "title": "x"\n}\n'
    assert _summary(parse_document(text, "s")) == [("item", 1, 0, {"id": "a", "title": "x"})]


def test_single_malformed_object_gives_line_and_column():
    (error,) = parse_document('{\n  "id": "a"\n  "title": "x"\n}', "s")
    assert isinstance(error, ParseError)
    assert (error.location.line, error.column) == (3, 3)


def test_forced_json_lines_reads_a_one_line_body_as_one_item():
    assert _summary(parse_document('{"id": "a"}', "s", lines=True)) == [("item", 1, 0, {"id": "a"})]


def test_empty_text_has_no_items():
    assert list(parse_document("", "s")) == []
    assert list(parse_document("[]", "s")) == []
    assert list(parse_document("  \n ", "s")) == []


def test_byte_order_mark_is_ignored():
    assert _summary(parse_document('\ufeff{"id": "a"}', "s")) == [("item", 1, 0, {"id": "a"})]


def test_discover_walks_directories_recursively_sorted(tmp_path: Path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "2.json").write_text("{}")
    (tmp_path / "a.jsonl").write_text("{}")
    (tmp_path / "b" / "1.jsonl").write_text("{}")
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / "rules.yaml").write_text("ignored")
    found = discover([tmp_path])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a.jsonl", "b/1.jsonl", "b/2.json"]


def test_discover_names_a_missing_path(tmp_path: Path):
    with pytest.raises(InputError, match="nope: no such file"):
        discover([tmp_path / "nope"])


def test_discover_refuses_a_directory_without_articles(tmp_path: Path):
    with pytest.raises(InputError, match="no \\*.json or \\*.jsonl files"):
        discover([tmp_path])


def test_read_file_jsonl_reports_undecodable_line_and_continues(tmp_path: Path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"id": "a"}\n{"id": "\xff"}\n{"id": "c"}\n')
    result = list(read_file(path))
    assert [type(p) for p in result] == [RawItem, ParseError, RawItem]
    assert result[1].location.line == 2 and "UTF-8" in result[1].message
    assert result[1].location.source == str(path)


def test_read_file_json_with_bad_utf8_is_located(tmp_path: Path):
    path = tmp_path / "x.json"
    path.write_bytes(b'{\n "id": "\xc3\xa9",\n "title": "\xff"\n}')
    (error,) = read_file(path)
    assert isinstance(error, ParseError) and error.location.line == 3 and "UTF-8" in error.message


def test_read_file_json_array_and_jsonl_named_json(tmp_path: Path):
    (tmp_path / "arr.json").write_text('[{"id": "a"}, {"id": "b"}]')
    (tmp_path / "lines.json").write_text('{"id": "c"}\n{"id": "d"}\n')
    values = [p.value["id"] for p in read_paths([tmp_path])]
    assert values == ["a", "b", "c", "d"]


def test_absurd_nesting_is_a_parse_error_not_a_crash():
    deep = "[" * 100_000 + "]" * 100_000
    for text in (deep, "[" + deep + "]", '{"id": 1}\n' + deep + "\n"):
        assert any(isinstance(p, ParseError) and "nested too deeply" in p.message for p in parse_document(text, "s"))
