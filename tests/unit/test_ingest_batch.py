"""What one POST /articles body may hold: parsing, limits and per-item validation, without a server."""

from __future__ import annotations

import json

import pytest

from newsalert.services.ingest.batch import BodyError, parse_body


def _body(value) -> bytes:
    return json.dumps(value).encode()


def test_object_array_and_ndjson_give_cleaned_articles():
    assert [a.id for a in parse_body(_body({"id": "a"}), "application/json", 10).articles] == ["a"]
    batch = parse_body(_body([{"id": "a", "title": "A &amp; B"}, {"id": "b"}]), "application/json", 10)
    assert [(a.id, a.title) for a in batch.articles] == [("a", "A & B"), ("b", None)]
    batch = parse_body(b'{"id": "a"}\n{"id": "b"}\n', "application/x-ndjson", 10)
    assert [a.id for a in batch.articles] == ["a", "b"]


def test_one_line_ndjson_with_its_content_type_is_one_article():
    assert [a.id for a in parse_body(b'{"id": "a"}', "application/x-ndjson", 10).articles] == ["a"]


def test_malformed_json_refuses_the_whole_body_with_line_and_column():
    with pytest.raises(BodyError) as info:
        parse_body(b'[{"id": "a"},\n {"id" "b"}]', "application/json", 10)
    assert info.value.status == 400
    assert info.value.as_json()["line"] == 2 and info.value.as_json()["column"] == 8


def test_malformed_ndjson_line_is_named():
    with pytest.raises(BodyError) as info:
        parse_body(b'{"id": "a"}\n\n{"id": \n', "application/x-ndjson", 10)
    assert (info.value.status, info.value.details["line"]) == (400, 3)


def test_too_many_items_is_413_whatever_their_validity():
    with pytest.raises(BodyError) as info:
        parse_body(_body([{"bad": True}] * 4), "application/json", 3)
    assert info.value.status == 413


@pytest.mark.parametrize("body", [b"", b"  \n", b"[]"])
def test_empty_bodies_are_refused(body):
    with pytest.raises(BodyError) as info:
        parse_body(body, "application/json", 10)
    assert info.value.status == 400


def test_invalid_utf8_names_the_line():
    with pytest.raises(BodyError) as info:
        parse_body(b'{"id": "a"}\n{"id": "\xff"}', "application/json", 10)
    assert info.value.status == 400 and info.value.details["line"] == 2


def test_invalid_items_are_rejected_with_index_line_and_field():
    body = b'[{"id": "a"},\n {"id": "b", "url": ""},\n {"id": "c"}]'
    batch = parse_body(body, "application/json", 10)
    assert [a.id for a in batch.articles] == ["a", "c"]
    (rejected,) = batch.rejected
    assert rejected.as_json() == {
        "index": 1, "line": 2, "id": "b",
        "errors": [{"field": "url", "message": "String should have at least 1 character"}],
    }
    assert rejected.reason().startswith("item 1 (line 2): url:")
    assert json.loads(rejected.text) == {"id": "b", "url": ""}
