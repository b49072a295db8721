"""Rate limits and digests: the YAML fields (located errors), the pure policy, the digest id and payload."""

from __future__ import annotations

import textwrap
from datetime import datetime, timezone

import pytest

from newsalert.domain.delivery.ids import digest_webhook_id, webhook_id
from newsalert.domain.delivery.ratelimit import (
    DIGEST_ALERTS_MAX,
    HOLD,
    SEND,
    RateLimit,
    RateLimiter,
    parse_duration,
)
from newsalert.domain.rulefile import RuleFileError, load_rule_text
from newsalert.schemas.rules_feed import FeedSubscriber
from tests.support import SECRET


FILE = """\
subscribers:
  - id: desk
    url: https://hooks.example.org/desk
    secret: {secret}
{extra}rules:
  - id: r1
    query: Korea
    notify: [desk]
"""


def load(extra: str):
    text = FILE.format(secret=SECRET, extra=textwrap.indent(textwrap.dedent(extra), "    "))
    return load_rule_text(text, "rules.yaml", {})


def test_yaml_fields_are_read_and_carried_by_the_feed_form() -> None:
    ruleset = load("max_per_minute: 3\ndigest: 15m\n")
    desk = ruleset.subscribers["desk"]
    assert (desk.max_per_minute, desk.digest, desk.digest_seconds()) == (3, "15m", 900)
    feed = FeedSubscriber.of(desk)
    assert (feed.max_per_minute, feed.digest) == (3, "15m")


def test_fields_are_optional() -> None:
    desk = load("").subscribers["desk"]
    assert desk.max_per_minute is None and desk.digest_seconds() is None


@pytest.mark.parametrize(
    ("extra", "line", "words"),
    [
        ("digest: 15 minutes\n", 5, "not a duration"),
        ("digest: 25h\n", 5, "out of range"),
        ("digest: 0m\n", 5, "not a duration"),
        ("max_per_minute: 3\ndigest: 2d\n", 6, "not a duration"),
        ("max_per_minute: 0\n", 5, "greater than or equal to 1"),
        ("max_per_minute: many\n", 5, "integer"),
    ],
)
def test_bad_values_are_located_errors(extra: str, line: int, words: str) -> None:
    with pytest.raises(RuleFileError) as info:
        load(extra)
    [problem] = info.value.problems
    assert problem.line == line, problem.render()
    assert words in problem.render()


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("15m", 900), ("1h", 3600), ("24h", 86400), ("1s", 1)])
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "15", "m", "1.5m", "-1m", "1d", "90000s", "15M"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_three_singles_a_minute_then_one_digest_at_the_end_of_the_window() -> None:
    limiter: RateLimiter[int] = RateLimiter()
    limit = RateLimit.of(3, 900)
    t0 = 1_700_000_000.0  # 20 s into a minute
    routes = [limiter.route("desk", limit, n, t0 + n) for n in range(10)]
    assert routes == [SEND] * 3 + [HOLD] * 7
    assert limiter.due(t0 + 899, held_cap=1000) == []
    # A new minute has started, but the open digest keeps taking the alerts: never newer before older.
    assert limiter.route("desk", limit, 10, t0 + 120) == HOLD
    [digest] = limiter.due(t0 + 3 + 900, held_cap=1000)
    assert (digest.subscriber, digest.start, digest.end) == ("desk", int(t0) + 3, int(t0) + 903)
    assert digest.items == [3, 4, 5, 6, 7, 8, 9, 10]
    assert limiter.held() == 0 and limiter.due(t0 + 5000, held_cap=1000) == []
    # After the digest, the minute counter applies again.
    assert limiter.route("desk", limit, 11, t0 + 5000) == SEND


def test_counters_are_per_subscriber_and_per_calendar_minute() -> None:
    limiter: RateLimiter[str] = RateLimiter()
    limit = RateLimit.of(1, 60)
    assert limiter.route("a", limit, "a1", 59.0) == SEND
    assert limiter.route("b", limit, "b1", 59.5) == SEND
    assert limiter.route("a", None, "free", 59.6) == SEND  # no limit: never held
    assert limiter.route("a", limit, "a2", 59.9) == HOLD


def test_digest_only_holds_everything_and_max_only_uses_minute_digests() -> None:
    limiter: RateLimiter[int] = RateLimiter()
    assert limiter.route("d", RateLimit.of(None, 30), 1, 100.0) == HOLD
    assert RateLimit.of(5, None) == RateLimit(5, 60)
    assert RateLimit.of(None, None) is None


def test_full_digest_is_due_at_once_and_the_fullest_go_early_above_the_held_cap() -> None:
    limiter: RateLimiter[int] = RateLimiter()
    limit = RateLimit.of(None, 900)
    for n in range(DIGEST_ALERTS_MAX):
        limiter.route("big", limit, n, 10.0)
    [full] = limiter.due(11.0, held_cap=10_000)
    assert len(full.items) == DIGEST_ALERTS_MAX
    for n in range(5):
        limiter.route("x", limit, n, 20.0)
    for n in range(2):
        limiter.route("y", limit, n, 20.0)
    early = limiter.due(21.0, held_cap=3)
    assert [d.subscriber for d in early] == ["x"] and limiter.held() == 2


def test_drop_removes_revoked_items_and_closes_empty_digests() -> None:
    limiter: RateLimiter[tuple[str, int]] = RateLimiter()
    limit = RateLimit.of(None, 60)
    limiter.route("a", limit, ("p0", 1), 0.0)
    limiter.route("a", limit, ("p1", 2), 0.0)
    limiter.route("b", limit, ("p0", 3), 0.0)
    removed = limiter.drop(lambda item: item[0] == "p0")
    assert sorted(removed) == [("p0", 1), ("p0", 3)]
    assert limiter.open_digest("b") is None and limiter.open_digest("a").items == [("p1", 2)]


def test_digest_webhook_id_is_stable_and_distinct() -> None:
    one = digest_webhook_id("desk", 1_700_000_003)
    assert one == digest_webhook_id("desk", 1_700_000_003)
    assert one != digest_webhook_id("desk", 1_700_000_004) != digest_webhook_id("desk2", 1_700_000_003)
    assert one.startswith("msg_") and one != webhook_id("digest", "desk", "1700000003")
    assert datetime.fromtimestamp(1_700_000_003, timezone.utc).year == 2023
