"""The fast text functions equal their plain definitions: ``token_spans``/``tokens`` the
``finditer`` tokeniser, ``clean_text`` the regex formulation of its whitespace rule."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsalert.domain import text as text_module
from newsalert.domain.text import Token, clean_text, normalise, token_spans, token_texts, tokens

# The obviously-correct definition: one match of the token pattern per run (a CJK character with
# its voiced mark; or words joined by "&", then "+"/"#" not followed by a letter or digit),
# normalised, split again by the same pattern when normalisation changed what it is made of.
_CJK = f"[{text_module.CJK_CHARS}][\u3099\u309a\uff9e\uff9f]*"
_PLAIN_WORD = f"[^\\W_{text_module.CJK_CHARS}]+(?:[\u0300-\u036f]+[^\\W_{text_module.CJK_CHARS}]*)*"
_RUN = re.compile(f"{_CJK}|{_PLAIN_WORD}(?:&{_PLAIN_WORD})*(?:[+#]+(?![+#]|[^\\W_]))?")


def plain_tokens(text: str) -> list[Token]:
    out = []
    for m in _RUN.finditer(text):
        norm = normalise(m.group())
        parts = [norm] if _RUN.fullmatch(norm) else _RUN.findall(norm)
        for part in parts:
            out.append(Token(part, m.start(), m.end()))
    return out


def test_examples_from_the_issue():
    assert token_texts("Pyongyang's Kim Jong-un F-35 AT&T") == ["pyongyang", "s", "kim", "jong", "un", "f", "35", "at&t"]
    assert token_texts("Zélensky Straße") == ["zelensky", "strasse"]
    texts, starts, ends = token_spans("  Zélensky, Straße!")
    assert (texts, starts, ends) == (["zelensky", "strasse"], [2, 12], [10, 18])


def test_split_run_shares_its_span():
    assert tokens("x ½ y") == [Token("x", 0, 1), Token("1", 2, 3), Token("2", 2, 3), Token("y", 4, 5)]


def test_empty_and_punctuation_only():
    assert token_spans("") == ([], [], [])
    assert token_spans(" -- !? ") == ([], [], [])


_ALPHABET = st.sampled_from(list("aZé e\u0301ßİ½ﬁ_-'., \n<>&;0９ДжΣς北京ガｶﾞ북한+#&") + ["\u0301", "\u00a0", "\u3099"])
# Non-ASCII characters that are never part of a token: text with only these besides ASCII takes
# the fast path, which must still give the same tokens.
_ASCII_AND_SIGNS = st.sampled_from(list("aZq09 _-'.,\n£€—“”\u20d0℃Ⓐ\u00a0&&++#"))


@settings(max_examples=400, derandomize=True, deadline=None)
@given(st.lists(_ALPHABET, max_size=40).map("".join))
def test_same_as_plain_definition_on_random_text(text):
    assert tokens(text) == plain_tokens(text)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.lists(_ASCII_AND_SIGNS, max_size=40).map("".join))
def test_same_as_plain_definition_on_ascii_words_with_signs(text):
    assert tokens(text) == plain_tokens(text)


@pytest.mark.corpus
def test_same_as_plain_definition_on_bbc():
    path = Path(__file__).resolve().parents[2] / "../shared/data/bbc.jsonl"
    if not path.exists():
        pytest.skip(f"corpus not found at {path} (see ../shared/README.md)")
    with path.open(encoding="utf-8") as f:
        for line in list(f)[:400]:
            article = json.loads(line)
            text = clean_text(article["body"])
            assert tokens(text) == plain_tokens(text)


def plain_clean_text(raw: str | None) -> str:
    """The regex definition of ``clean_text`` (one substitution per rule)."""
    if not raw:
        return ""
    text = text_module._SCRIPT_STYLE.sub(" ", raw)
    text = text_module._COMMENT.sub(" ", text)
    text = text_module._BLOCK_TAG.sub("\n\n", text)
    text = text_module._TAG.sub(" ", text)
    text = html.unescape(text)
    text = re.sub(r"[^\S\n]+", " ", text)
    text = re.sub(r"\s*\n\s*\n\s*", "\n\n", text)
    text = re.sub(r" *\n *", "\n", text)
    return text.strip()


_WS_ALPHABET = st.sampled_from(list(" \n\t\r\x0b\x0c\x1c\x1f\x85\xa0\u2028\u2029\u3000ab") + ["<p>", "</p>", "<b>", "&nbsp;", "&#10;", "&amp;lt;"])


@settings(max_examples=500, derandomize=True, deadline=None)
@given(st.lists(_WS_ALPHABET, max_size=30).map("".join))
def test_clean_text_equals_regex_definition_on_random_text(raw):
    assert clean_text(raw) == plain_clean_text(raw)


def test_clean_text_examples():
    assert clean_text("  a \t b \n\n\n  c\n d  ") == "a b\n\nc\nd"
    assert clean_text("<p>x</p><p>y</p>") == "x\n\ny"
    assert clean_text("AT&amp;T") == "AT&T"


@pytest.mark.corpus
def test_clean_text_equals_regex_definition_on_bbc():
    path = Path(__file__).resolve().parents[2] / "../shared/data/bbc.jsonl"
    if not path.exists():
        pytest.skip(f"corpus not found at {path} (see ../shared/README.md)")
    with path.open(encoding="utf-8") as f:
        for line in f:
            article = json.loads(line)
            for raw in (article["title"], article["body"]):
                assert clean_text(raw) == plain_clean_text(raw)
