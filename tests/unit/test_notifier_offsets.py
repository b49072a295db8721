"""The notifier's commit rule: commit just past the settled prefix of each partition, never beyond."""

from __future__ import annotations

import random

import pytest

from newsalert.services.notifier.offsets import OffsetTracker


def test_commit_point_waits_for_the_oldest_unsettled_offset() -> None:
    tracker = OffsetTracker()
    tickets = [tracker.add("p0", offset) for offset in (10, 11, 12, 15)]  # a gap: 13, 14 compacted
    tracker.settle(tickets[1])
    tracker.settle(tickets[2])
    assert tracker.to_commit() == {}
    tracker.settle(tickets[0])
    assert tracker.to_commit() == {"p0": 13}
    tracker.mark_committed({"p0": 13})
    assert tracker.to_commit() == {}
    tracker.settle(tickets[3])
    assert tracker.to_commit() == {"p0": 16}
    assert tracker.pending() == 0


def test_partitions_are_independent_and_filterable() -> None:
    tracker = OffsetTracker()
    a = tracker.add("a", 0)
    b0, b1 = tracker.add("b", 5), tracker.add("b", 6)
    tracker.settle(b1)
    tracker.settle(a)
    assert tracker.to_commit() == {"a": 1}
    tracker.settle(b0)
    assert tracker.to_commit(["b"]) == {"b": 7}
    assert tracker.pending("b") == 0


def test_revoked_partition_makes_old_tickets_stale() -> None:
    tracker = OffsetTracker()
    old = tracker.add("p", 1)
    tracker.drop(["p"])
    assert not tracker.is_live(old)
    new = tracker.add("p", 1)  # reassigned later and fetched again from the committed offset
    tracker.settle(old)  # a late outcome of the old generation changes nothing
    assert tracker.to_commit() == {} and tracker.is_live(new)


def test_offsets_must_increase() -> None:
    tracker = OffsetTracker()
    tracker.add("p", 3)
    with pytest.raises(ValueError):
        tracker.add("p", 3)


def test_random_settle_order_never_commits_past_an_unsettled_offset() -> None:
    rng = random.Random(3)
    tracker = OffsetTracker()
    tickets = [tracker.add("p", offset) for offset in range(200)]
    order = tickets[:]
    rng.shuffle(order)
    settled: set[int] = set()
    for ticket in order:
        tracker.settle(ticket)
        settled.add(ticket.offset)
        point = tracker.to_commit().get("p")
        if point is not None:
            assert set(range(point)) <= settled
            assert point == 200 or point not in settled
    assert tracker.to_commit() == {"p": 200}
