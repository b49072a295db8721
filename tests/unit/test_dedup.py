"""The pure part of de-duplication (``newsalert.domain.dedup``) and the notifier's reading of the
fingerprint header (``newsalert.services.notifier.claims``)."""

from __future__ import annotations

import asyncio
import json

import pytest

from newsalert.domain.dedup import ClaimBook, canonical_url, dedup_key, is_duplicate, is_expired, story_fingerprints, text_fingerprint
from newsalert.schemas.dedup import DEDUP_HEADER
from newsalert.services.notifier.claims import _apply, fingerprints_of


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
    claim = (1000.0, "0:5")
    assert is_duplicate(claim, "0:9", 1000.0 + 10, 3600)
    assert not is_duplicate(claim, "0:5", 1010, 3600)  # the same record handled again: not its own duplicate
    assert not is_duplicate(claim, "0:9", 1000.0 + 3600, 3600)  # outside the window
    assert not is_duplicate(None, "0:9", 0, 3600)
    assert is_expired(1000.0, 4600.0, 3600) and not is_expired(1000.0, 4599.0, 3600)


def test_the_book_lets_the_first_copy_through_and_stops_later_ones_per_rule():
    book = ClaimBook(3600)
    assert book.check_and_claim(0, "desk", "r", ["id:a", "url:u"], "0:1", 1000)
    assert not book.check_and_claim(0, "desk", "r", ["id:b", "url:u"], "0:2", 1001)  # same URL
    assert book.check_and_claim(0, "desk", "other", ["id:a"], "0:3", 1002)  # another rule
    assert book.check_and_claim(0, "wire", "r", ["id:a"], "0:4", 1002)  # another subscriber
    assert book.check_and_claim(0, "desk", "r", ["id:a", "url:u"], "0:1", 1003)  # redo of record 1
    assert book.check_and_claim(0, "desk", "r", ["id:a"], "0:5", 1000 + 7200)  # window passed
    assert book.size(0) == 4  # desk/r/id:a, desk/r/url:u, desk/other/id:a, wire/r/id:a


def test_a_duplicate_claims_nothing():
    book = ClaimBook(3600)
    assert book.check_and_claim(0, "desk", "r", ["id:a"], "0:1", 1000)
    assert not book.check_and_claim(0, "desk", "r", ["id:a", "text:t"], "0:2", 1001)
    # text:t was not claimed by the duplicate, so another article with only that text gets through.
    assert book.check_and_claim(0, "desk", "r", ["id:c", "text:t"], "0:3", 1002)


def test_loaded_claims_count_and_partitions_are_separate():
    book = ClaimBook(3600)
    book.load(1, "desk", "r", ["id:a"], "1:7", 1000)
    assert not book.check_and_claim(1, "desk", "r", ["id:a"], "1:8", 1500)
    assert book.check_and_claim(1, "desk", "r", ["id:a"], "1:7", 1500)  # the loaded claim's own record
    assert book.check_and_claim(2, "desk", "r", ["id:a"], "2:1", 1500)  # another partition's book
    book.forget(1)
    assert book.size(1) == 0 and book.size() == 1


def test_expire_drops_old_claims_from_the_front():
    book = ClaimBook(100)
    book.check_and_claim(0, "s", "r", ["id:a"], "0:1", 1000)
    book.check_and_claim(0, "s", "r", ["id:b"], "0:2", 1050)
    book.check_and_claim(0, "s", "r", ["id:c"], "0:3", 1090)
    assert book.expire(1160) == 2
    assert book.size() == 1
    assert book.check_and_claim(0, "s", "r", ["id:a"], "0:9", 1160)
    assert dedup_key("s", "r", "id:a") != dedup_key("s", "r2", "id:a")


def test_fingerprints_are_read_from_the_header():
    prints = ["id:a", "url:https://x.example/p"]
    assert fingerprints_of([("other", b"x"), (DEDUP_HEADER, json.dumps(prints).encode())]) == prints
    assert fingerprints_of([]) == [] and fingerprints_of(None) == []
    assert fingerprints_of([(DEDUP_HEADER, b"not json")]) == []
    assert fingerprints_of([(DEDUP_HEADER, b'{"a": 1}')]) == []


class _Rec:
    def __init__(self, key, value, offset=0):
        self.key, self.value, self.offset, self.topic, self.partition = key, value, offset, "matches.claims", 0


def test_reading_back_keeps_the_last_batch_per_key_and_honours_tombstones():
    def batch(*claims):
        return json.dumps({"claims": [{"subscriber": "s", "rule": "r", "fingerprints": ["id:a"], "at": at, "by": by}
                                      for by, at in claims]}).encode()
    latest: dict = {}
    for rec in [_Rec(b"0:1", batch(("0:1", 10), ("0:2", 11))), _Rec(b"0:3", batch(("0:3", 11))),
                _Rec(b"0:1", batch(("0:1", 12))), _Rec(b"0:3", None), _Rec(b"0:4", b"garbage")]:
        _apply(latest, rec)
    assert list(latest) == [b"0:1"] and [c.by for c in latest[b"0:1"].claims] == ["0:1"]


async def test_a_partial_revocation_restarts_the_read_back_for_the_partitions_kept():
    from newsalert.config import Settings
    from newsalert.services.notifier.claims import StoryClaims

    claims = StoryClaims(Settings(dedup_window=60), publisher=None)
    release, reads = asyncio.Event(), []

    async def recover(partitions):  # stands in for the broker read: waits until released
        reads.append(list(partitions))
        await release.wait()

    claims.recover = recover
    claims.assigned([0, 1])
    await asyncio.sleep(0)
    assert claims.recovering(0) and claims.recovering(1) and reads == [[0, 1]]
    await claims.revoked([0])
    await asyncio.sleep(0)
    assert not claims.recovering(0) and claims.recovering(1)  # 1 is still paused: read again
    assert reads == [[0, 1], [1]]
    release.set()
    await asyncio.sleep(0.01)
    assert not claims.recovering(1)
