"""Matching in scripts written without spaces (Chinese, Japanese), in Korean (particles glued to
the noun), and names written with symbols (AT&T, C++): engine and reference evaluator agree."""

from __future__ import annotations

import pytest

from newsalert.domain.query.parser import parse_query
from newsalert.domain.text import token_texts, tokens
from newsalert.errors import QuerySyntaxError
from tests.unit.test_engine import hits, marked, run

JA = "北朝鮮が弾道ミサイルを発射"
ZH = "朝鲜发射弹道导弹"
KO = "북한이 탄도미사일 발사 ... 미사일을 발사했다"


def test_han_and_kana_are_one_token_per_character():
    assert token_texts("北朝鮮が") == ["北", "朝", "鮮", "が"]
    assert token_texts("G7サミット開催") == ["g7", "サ", "ミ", "ッ", "ト", "開", "催"]
    # Half-width katakana with its voiced mark is one token, the full-width character.
    assert token_texts("ｶﾞｽ") == ["ガ", "ス"]
    # Voiced marks are kept: ガ and カ are different characters.
    assert token_texts("ガス カス") == ["ガ", "ス", "カ", "ス"]
    assert [(t.start, t.end) for t in tokens("G7サミット")] == [(0, 2), (2, 3), (3, 4), (4, 5), (5, 6)]


def test_japanese_and_chinese_terms_match_their_characters_anywhere():
    assert hits("北朝鮮 AND ミサイル", body=JA)
    assert hits("朝鲜 AND 导弹", body=ZH)
    assert not hits("北朝鮮 AND ミサイル", body="北朝が弾道")
    assert not hits("朝鮮北", body=JA)  # characters in order, consecutive
    assert marked("北朝鮮 AND ミサイル", title=JA) == [("title", "北朝鮮"), ("title", "ミサイル")]


def test_mixed_script_term():
    assert marked("G7サミット", body="広島でG7サミットが開幕") == [("body", "G7サミット")]
    assert not hits("G7サミット", body="G8サミット")


def test_cjk_terms_stay_in_one_field():
    assert not hits("北朝鮮", title="北朝", body="鮮")


def test_near_counts_characters():
    assert hits("北朝鮮 NEAR/1 発射", body="北朝鮮が発射")
    assert not hits("北朝鮮 NEAR/0 発射", body="北朝鮮が発射")
    assert hits("北朝鮮 ONEAR/5 ミサイル", body=JA)
    assert not hits("ミサイル ONEAR/5 北朝鮮", body=JA)


def test_korean_word_matches_words_starting_with_it():
    assert hits("북한 AND 미사일", body=KO)
    assert marked("북한", body=KO) == [("body", "북한이")]
    assert hits("북한*", body=KO)
    assert not hits("미사일", body="탄도미사일")  # a word start, not anywhere in the word
    assert not hits("북한이", body="북한 발사")


def test_korean_and_cjk_parse():
    assert parse_query("북한").prefix is True
    assert parse_query("북한*") == parse_query("북한*")
    with pytest.raises(QuerySyntaxError, match="no wildcard after Chinese or Japanese"):
        parse_query("北朝*")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("AT&T raises prices", ["at&t", "raises", "prices"]),
        ("S&P 500, P&G, M&A, R&D", ["s&p", "500", "p&g", "m&a", "r&d"]),
        ("C++ and C# and F#.", ["c++", "and", "c#", "and", "f#"]),
        ("Tom & Jerry", ["tom", "jerry"]),
        ("a+b 1+1 #tag", ["a", "b", "1", "1", "tag"]),
        ("c++x", ["c", "x"]),
        ("x+&b&c +#a&&b", ["x+", "b&c", "a", "b"]),
        ("Zoë&Co C#é", ["zoe&co", "c", "e"]),
    ],
)
def test_names_with_symbols_are_one_token(text, expected):
    assert token_texts(text) == expected


def test_at_and_t_is_no_longer_the_phrase_at_t():
    assert hits('"AT&T"', title="AT&T raises prices")
    assert hits('"AT&T"', body="shares of AT&amp;T fell")
    assert not hits('"AT&T"', title="Queues at T-Mobile stores as new phone launches")
    assert marked("C++ OR C#", body="Rust, C++ and C# developers") == [("body", "C++"), ("body", "C#")]
    assert not hits("C", body="C++ developers")
    assert not run("S&P", body="S P")
