"""The pure part of de-duplication (``newsalert.domain.dedup``) and the matcher's dedup stage decision."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from newsalert.domain.dedup import canonical_url, dedup_key, is_duplicate, story_fingerprints, text_fingerprint
from services.matcher.app import deduplicate
from services.matcher.processing import DEDUP_HEADER


@pytest.mark.parametrize(
    "url, canonical",
    [
        ("https://News.Example/a/b/?utm_source=x&utm_medium=y", "https://news.example/a/b"),
        ("HTTPS://news.example:443/a?b=2&a=1#frag", "https://news.example/a?a=1&b=2"),
        ("http://news.example:8080/a?fbclid=1&gclid=2&id=7", "http://news.example:8080/a?id=7"),
        ("https://news.example", "https://news.example/"),
    ],
)
def test_canonical_url(url, canonical):
    assert canonical_url(url) == canonical


@pytest.mark.parametrize("url", [None, "", "  ", "not a url", "https://[::1/x"])
def test_unusable_urls_have_no_canonical_form(url):
    assert canonical_url(url) is None


def test_text_fingerprint_ignores_case_spacing_punctuation_and_later_paragraphs():
    a = text_fingerprint("Strike in Paris", "Unions called a strike.\n\nMore.")
    assert a == text_fingerprint("STRIKE  in Paris!", "Unions called a strike\n\nSomething else entirely.")
    assert a != text_fingerprint("Strike in Paris", "Unions called no strike.")
    assert a != text_fingerprint("Strike in Lyon", "Unions called a strike.")
    assert text_fingerprint(None, None) is None


def test_story_fingerprints():
    prints = story_fingerprints("a1", "https://x.example/p?utm_source=s", "T", "B")
    assert prints[:2] == ["id:a1", "url:https://x.example/p"] and prints[2].startswith("text:")
    assert story_fingerprints("a1", None, None, None) == ["id:a1"]


def test_a_claim_by_another_record_within_the_window_is_a_duplicate():
    claim = {"at": 1000.0, "by": "0:5"}
    assert is_duplicate(claim, "0:9", 1000.0 + 10, 3600)
    assert not is_duplicate(claim, "0:5", 1010, 3600)  # the same record processed again: not its own duplicate
    assert not is_duplicate(claim, "0:9", 1000.0 + 3600, 3600)  # outside the window
    assert not is_duplicate(None, "0:9", 0, 3600)


@dataclass
class Msg:
    value: bytes
    key: bytes
    partition: int
    offset: int
    timestamp: float
    headers: list


def candidate(offset: int, prints: list[str], rule: str = "r", at: float = 1000.0) -> Msg:
    value = json.dumps({"rule": {"id": rule}}).encode()
    return Msg(value, b"desk", 0, offset, at, [(DEDUP_HEADER, json.dumps(prints).encode())])


def test_the_stage_forwards_the_first_copy_and_drops_later_ones_per_rule():
    table: dict = {}
    first = deduplicate(candidate(1, ["id:a", "url:u"]), table, 3600, "matches")
    assert first.alerts == 1 and first.records[0].topic == "matches" and first.records[0].key == b"desk"
    assert deduplicate(candidate(2, ["id:b", "url:u"]), table, 3600, "matches").duplicates == 1
    assert deduplicate(candidate(3, ["id:a"], rule="other"), table, 3600, "matches").alerts == 1
    assert deduplicate(candidate(1, ["id:a", "url:u"]), table, 3600, "matches").alerts == 1  # redo of record 1
    assert deduplicate(candidate(4, ["id:a"], at=1000 + 7200), table, 3600, "matches").alerts == 1  # window passed
    assert dedup_key("desk", "r", "id:a") in table


def test_a_candidate_without_fingerprints_is_forwarded():
    msg = candidate(1, [])
    msg.headers = []
    assert deduplicate(msg, {}, 3600, "matches").alerts == 1
