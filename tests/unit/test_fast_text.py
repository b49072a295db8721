"""The matcher's faster text and id functions equal their plain definitions.

Each function below was rewritten for CPU time; the test keeps the previous formulation as the
reference and compares on random text (whitespace of every kind, markup, entities, characters
that are neither whitespace nor printable) and on the BBC corpus.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsalert.domain.delivery.ids import webhook_id
from newsalert.domain.text import clean_line, clean_text, tokenise
from newsalert.domain.alerts import excerpt
from tests.unit.test_token_spans import plain_clean_text

BBC = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "bbc.jsonl"
_WHITESPACE = re.compile(r"\s+")

_PIECES = st.sampled_from(
    list(" \n\t\r\x0b\x0c\x1c\x1f\x85\xa0\u2028\u2029\u3000\xad\u200b\x01éab-,.")
    + ["<p>", "</p>", "<b>", "&nbsp;", "&#10;", "&amp;lt;", "word", "Zoë", "  ", "\n\n\n"]
)
_TEXT = st.lists(_PIECES, max_size=60).map("".join)


def plain_excerpt(body: str | None, limit: int = 500) -> str:
    """``excerpt`` as it was: collapse the whole cleaned body to one line, then cut."""
    text = _WHITESPACE.sub(" ", clean_text(body)).strip()
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit * 4 // 5:
        cut = cut[:space]
    return cut.rstrip() + "…"


def plain_webhook_id(article_id: str, rule_id: str, subscriber_id: str) -> str:
    material = "|".join(f"{len(part)}:{part}" for part in (article_id, rule_id, subscriber_id))
    digest = hashlib.sha256(material.encode("utf-8")).digest()[:20]
    return "msg_" + base64.b32encode(digest).decode("ascii").lower()


def bbc_bodies() -> list[str]:
    if not BBC.exists():
        pytest.skip(f"corpus not found at {BBC} (see ../shared/README.md)")
    with BBC.open(encoding="utf-8") as handle:
        return [json.loads(line)["body"] for line in handle]


@settings(max_examples=500, derandomize=True, deadline=None)
@given(_TEXT, st.integers(min_value=0, max_value=40))
def test_excerpt_equals_plain_definition_on_random_text(body, limit):
    assert excerpt(body, limit) == plain_excerpt(body, limit)
    assert excerpt(clean_text(body), limit) == plain_excerpt(clean_text(body), limit)


@settings(max_examples=500, derandomize=True, deadline=None)
@given(_TEXT)
def test_clean_line_is_clean_text_on_one_line(raw):
    assert clean_line(raw) == _WHITESPACE.sub(" ", clean_text(raw)).strip()


@settings(max_examples=500, derandomize=True, deadline=None)
@given(_TEXT)
def test_clean_text_equals_regex_definition_with_unprintable_characters(raw):
    # Lines that look clean are kept without split/join: \xad, \u200b and \x01 are neither
    # whitespace nor printable, so they must go the split path and come out the same.
    assert clean_text(raw) == plain_clean_text(raw)


@pytest.mark.corpus
def test_excerpt_equals_plain_definition_on_bbc():
    for body in bbc_bodies():
        assert excerpt(body) == plain_excerpt(body)
        assert excerpt(clean_text(body)) == plain_excerpt(clean_text(body))


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.text(min_size=1, max_size=12), st.text(min_size=1, max_size=12), st.text(min_size=1, max_size=12))
def test_webhook_id_equals_plain_definition(article_id, rule_id, subscriber_id):
    assert webhook_id(article_id, rule_id, subscriber_id) == plain_webhook_id(article_id, rule_id, subscriber_id)


@pytest.mark.parametrize("bad", [("", "r", "s"), ("a", "", "s"), ("a", "r", None), (1, "r", "s")])
def test_webhook_id_refuses_empty_or_non_string_parts(bad):
    with pytest.raises(ValueError, match="must be a non-empty string"):
        webhook_id(*bad)


_ASCII_TOKENS = st.lists(st.sampled_from(["a", "Bc", "42", " ", "  ", "-", ", ", "£", "—", "\n", "x_y", "é"]), max_size=40).map("".join)


@settings(max_examples=500, derandomize=True, deadline=None)
@given(_ASCII_TOKENS, st.data())
def test_offsets_of_a_few_tokens_equal_the_offsets_of_all(text, data):
    stream = tokenise(text)
    expected_starts, expected_ends = tokenise(text).spans()
    if not stream.texts:
        return
    indices = sorted(data.draw(st.sets(st.integers(0, len(stream.texts) - 1), min_size=1)))
    before = [sum(map(len, stream.texts[:i])) for i in indices]
    starts = stream.starts_of(indices, before)
    assert starts == [expected_starts[i] for i in indices]
    assert stream.ends_of(indices, starts) == [expected_ends[i] for i in indices]
