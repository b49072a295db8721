"""The stall rule (``newsalert.services.matcher.watchdog.StallDetector``) on a fake clock.

Covers what a SIGSTOP cannot show: a worker that keeps running (its loop and web server alive) but
stops committing while lag grows is declared stalled after the timeout, whereas an idle worker or
a slow-but-committing one never is.
"""

from __future__ import annotations

from newsalert.services.matcher.watchdog import StallDetector

P0, P1 = ("articles", 0), ("articles", 1)


def test_running_worker_that_stops_committing_is_stalled_after_the_timeout():
    d = StallDetector(timeout_s=10)
    assert d.observe(0, {P0}, {P0: 5}, {P0: 5}) == []
    assert d.observe(4, {P0}, {P0: 5}, {P0: 8}) == []  # lag appears
    assert d.observe(9, {P0}, {P0: 5}, {P0: 20}) == []  # 9 s without a commit: not yet
    (stall,) = d.observe(15, {P0}, {P0: 5}, {P0: 30})
    assert stall.partition == P0 and stall.lag == 25 and stall.seconds >= 10
    assert "articles[0] lag 25" in str(stall)


def test_idle_worker_is_never_stalled():
    d = StallDetector(timeout_s=10)
    for t in range(0, 100, 5):
        assert d.observe(t, {P0}, {P0: 7}, {P0: 7}) == []


def test_committing_worker_with_a_backlog_is_not_stalled():
    d = StallDetector(timeout_s=10)
    for t in range(0, 100, 5):
        assert d.observe(t, {P0}, {P0: t}, {P0: 1000 + t}) == []


def test_constant_backlog_without_commits_is_a_stall_too():
    d = StallDetector(timeout_s=10)
    d.observe(0, {P0}, {P0: 1}, {P0: 50})
    assert d.observe(11, {P0}, {P0: 1}, {P0: 50})


def test_no_commit_yet_counts_as_offset_zero():
    d = StallDetector(timeout_s=10)
    d.observe(0, {P0}, {P0: None}, {P0: 3})
    (stall,) = d.observe(10, {P0}, {P0: None}, {P0: 3})
    assert stall.lag == 3


def test_partitions_of_other_workers_are_not_this_workers_stall():
    d = StallDetector(timeout_s=10)
    d.observe(0, {P0}, {P0: 0, P1: 0}, {P0: 0, P1: 9})
    assert d.observe(20, {P0}, {P0: 0, P1: 0}, {P0: 0, P1: 9}) == []
    assert d.lag() == {P0: 0}


def test_a_newly_assigned_partition_gets_a_full_timeout():
    d = StallDetector(timeout_s=10)
    d.observe(0, {P0}, {P0: 0, P1: 0}, {P0: 0, P1: 9})  # P1 stuck at another worker
    assert d.observe(20, {P0, P1}, {P0: 0, P1: 0}, {P0: 0, P1: 9}) == []  # just moved here
    assert d.observe(29, {P0, P1}, {P0: 0, P1: 0}, {P0: 0, P1: 9}) == []
    assert [s.partition for s in d.observe(31, {P0, P1}, {P0: 0, P1: 0}, {P0: 0, P1: 9})] == [P1]


def test_same_assignment_after_a_rejoin_keeps_the_history():
    d = StallDetector(timeout_s=10)
    d.observe(0, {P0}, {P0: 0}, {P0: 5})
    # Paused: the group dropped the worker and gave it the same partition back on resume.
    assert d.observe(30, {P0}, {P0: 0}, {P0: 9})


def test_frozen_process_with_grown_lag_is_stalled_whatever_it_committed_after():
    d = StallDetector(timeout_s=10)
    d.observe(0, {P0}, {P0: 5}, {P0: 5})
    (stall,) = d.observe_frozen(20, 20, {P0}, {P0: 40})
    assert stall.seconds == 20 and stall.lag == 35


def test_frozen_process_without_new_articles_or_short_freeze_is_not_stalled():
    d = StallDetector(timeout_s=10)
    d.observe(0, {P0}, {P0: 5}, {P0: 5})
    assert d.observe_frozen(20, 20, {P0}, {P0: 5}) == []
    assert d.observe_frozen(25, 5, {P0}, {P0: 9}) == []
