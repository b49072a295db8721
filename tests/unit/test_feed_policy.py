"""Feed polling policy, pure: schedule with jitter, backoff and Retry-After; the bounded seen set;
the feed file with located errors."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from newsalert.domain.feeds.feedfile import FeedFileError, load_feed_text
from newsalert.domain.feeds.schedule import PollSchedule, parse_retry_after
from newsalert.domain.feeds.seen import SeenIds

SCHEDULE = PollSchedule(jitter=0.1, backoff_max=3600, retry_after_max=7200)


def test_interval_with_jitter_bounds() -> None:
    assert SCHEDULE.next_delay(300, 0, 0.0) == pytest.approx(270)
    assert SCHEDULE.next_delay(300, 0, 0.5) == pytest.approx(300)
    assert SCHEDULE.next_delay(300, 0, 0.999999) == pytest.approx(330, abs=0.01)


def test_backoff_doubles_and_is_capped() -> None:
    delays = [SCHEDULE.next_delay(300, n, 0.5) for n in range(1, 6)]
    assert delays == [300, 600, 1200, 2400, 3600]
    assert SCHEDULE.next_delay(300, 100, 0.5) == 3600


def test_retry_after_is_a_lower_bound_and_capped() -> None:
    assert SCHEDULE.next_delay(60, 1, 0.5, retry_after=900) == 900
    assert SCHEDULE.next_delay(60, 1, 0.5, retry_after=10) == 60
    assert SCHEDULE.next_delay(60, 1, 0.5, retry_after=10**6) == 7200


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert parse_retry_after("120") == 120
    assert parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == 90
    assert parse_retry_after(format_datetime(now - timedelta(seconds=90), usegmt=True), now) == 0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_seen_ids_bounded_newest_kept() -> None:
    seen = SeenIds(3, ["a", "b"])
    assert seen.unseen(["b", "c", "c", "d"]) == ["c", "d"]
    seen.add(["c", "d"])
    assert seen.ids() == ["b", "c", "d"] and "a" not in seen
    seen.add(["b"])
    assert seen.ids() == ["c", "d", "b"]


def test_feed_file_defaults() -> None:
    (spec,) = load_feed_text("feeds:\n  - id: w\n    url: https://e.org/rss\n")
    assert (spec.interval_s, spec.language, spec.source, spec.full_text) == (300, None, None, False)


def test_feed_file_every_problem_located() -> None:
    text = (
        "feeds:\n"
        "  - id: a\n    url: https://e.org/rss\n    interval: 1h\n"
        "  - id: a\n    url: https://e.org/other\n"
        "  - id: b\n    url: file:///etc/passwd\n    intervall: 5m\n"
        "  - url: https://e.org/x\n"
    )
    with pytest.raises(FeedFileError) as caught:
        load_feed_text(text, "f.yaml")
    rendered = [p.render() for p in caught.value.problems]
    assert rendered[0].startswith("f.yaml:5:9: duplicate feed id 'a' (first defined at line 2)")
    assert rendered[1].startswith("f.yaml:8:10: feed 'b': url: url scheme must be http or https")
    assert rendered[2].startswith("f.yaml:9:5: feed 'b': unknown key 'intervall' (did you mean 'interval'?")
    assert rendered[3].startswith("f.yaml:10:5: feed 4: missing required key 'id'")
    assert rendered[2].endswith("    intervall: 5m\n        ^")


@pytest.mark.parametrize("text", ["", "feeds: []", "feeds: {}", "other: 1", "feeds: [{id: x, url: 'https://e.org', interval: 5s}]"])
def test_feed_file_refused(text: str) -> None:
    with pytest.raises(FeedFileError):
        load_feed_text(text)


def test_feeds_check_cli(tmp_path) -> None:
    from click.testing import CliRunner

    from newsalert.cli import main
    from newsalert.shipped import seeds_dir

    bad = tmp_path / "bad.yaml"
    bad.write_text("feeds:\n  - id: x\n    url: https://e.org/rss\n    interval: soon\n")
    ok = CliRunner().invoke(main, ["feeds", "check", str(seeds_dir() / "feeds.yaml")])
    assert ok.exit_code == 0 and ok.output.endswith(": OK, 3 feeds\n")
    failed = CliRunner().invoke(main, ["feeds", "check", str(bad)])
    assert failed.exit_code == 1
    assert f"{bad}:4:15: feed 'x': interval: 'soon' is not a duration" in failed.output
    assert failed.output.endswith(f"{bad}: 1 problem\n")
