"""What follows an attempt: the records the notifier must make durable before it commits."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from newsalert.domain.alerts import new_alert, new_digest
from newsalert.domain.delivery import outcome as oc
from newsalert.domain.delivery.follow_up import HISTORY_MAX, dead_letters, follow_up
from newsalert.domain.delivery.retry import DEAD, DONE, RETRY, WAIT, NextStep
from newsalert.schemas import Alert, Article, DeliveryAttempt

AT = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)
TIERS = (5.0, 300.0)


def alert(n: int = 1) -> Alert:
    return new_alert(Article(id=f"a{n}", title="t"), "r1", "t", "desk", ruleset_version="v")


def attempt_of(item, result: oc.AttemptOutcome, number: int = 1) -> DeliveryAttempt:
    return DeliveryAttempt(subscriber="desk", webhook_id=item.webhook_id, attempt=number, outcome=result.outcome,
                           status_code=result.status, error=result.error, url="https://hooks.example.org/desk", latency_ms=1.0, at=AT)


def test_delivered_needs_only_its_attempt_record() -> None:
    a, result = alert(), oc.from_status(204)
    done = follow_up(a, None, [], attempt_of(a, result), result, NextStep(DONE), TIERS)
    assert (done.action, done.retry, done.dead, done.disable) == (DONE, None, (), None)
    assert done.attempt.webhook_id == a.webhook_id


def test_retry_carries_the_next_attempt_due_after_the_delay_on_its_tier() -> None:
    a, result = alert(), oc.from_status(500)
    earlier = [attempt_of(a, result, 1)]
    retry = follow_up(a, None, earlier, attempt_of(a, result, 2), result, NextStep(RETRY, delay=7.0), TIERS)
    assert retry.action == RETRY and retry.tier == 5.0
    assert retry.attempt.next_attempt_at == AT + timedelta(seconds=7)
    envelope = retry.retry
    assert (envelope.alert, envelope.attempt, envelope.due_at, envelope.last_error) == (a, 3, AT + timedelta(seconds=7), "HTTP 500")
    assert [x.attempt for x in envelope.attempts] == [1, 2] and envelope.attempts[-1].next_attempt_at is not None


def test_gone_dead_letters_and_disables_the_subscriber() -> None:
    a, result = alert(), oc.from_status(410)
    dead = follow_up(a, None, [], attempt_of(a, result), result, NextStep(DEAD, dead_reason="gone", disable=True), TIERS)
    assert dead.action == DEAD and dead.retry is None and dead.dead_reason == "gone"
    assert [(d.alert, d.reason, len(d.attempts)) for d in dead.dead] == [(a, "gone", 1)]
    assert (dead.disable.subscriber, dead.disable.status, dead.disable.webhook_id) == ("desk", "disabled", a.webhook_id)


def test_a_digest_given_up_dead_letters_each_of_its_alerts_alone() -> None:
    alerts = [alert(1), alert(2), alert(3)]
    digest = new_digest("desk", 1_700_000_000, 1_700_000_060, alerts)
    result = oc.from_status(500)
    dead = follow_up(None, digest, [], attempt_of(digest, result), result, NextStep(DEAD, dead_reason="exhausted"), TIERS)
    assert [d.alert for d in dead.dead] == alerts and dead.disable is None


def test_history_carried_is_bounded() -> None:
    a, result = alert(), oc.from_status(500)
    history = [attempt_of(a, result, n) for n in range(1, HISTORY_MAX + 5)]
    dead = follow_up(a, None, history, attempt_of(a, result, HISTORY_MAX + 5), result, NextStep(DEAD, dead_reason="exhausted"), TIERS)
    assert len(dead.dead[0].attempts) == HISTORY_MAX and dead.dead[0].attempts[-1].attempt == HISTORY_MAX + 5


def test_dead_letters_of_a_disabled_subscriber_name_the_reason() -> None:
    a = alert()
    (letter,) = dead_letters(a, None, "disabled", "subscriber disabled: gone", [], AT)
    assert (letter.reason, letter.last_error, letter.dead_at) == ("disabled", "subscriber disabled: gone", AT)


def test_a_wait_for_the_breaker_keeps_the_attempt_number_and_the_last_real_error() -> None:
    a, failed = alert(), oc.from_status(500)
    held = oc.circuit_open(20.0)
    history = [attempt_of(a, failed, 1)]
    wait = follow_up(a, None, history, attempt_of(a, held, 2), held, NextStep(WAIT, delay=21.0), TIERS)
    assert wait.action == WAIT and wait.tier == 5.0
    assert wait.attempt.outcome == "circuit_open" and wait.attempt.next_attempt_at == AT + timedelta(seconds=21)
    assert (wait.retry.attempt, wait.retry.last_error) == (2, "HTTP 500")  # the same attempt, made later
    # A second wait of the same attempt replaces the first in the carried history.
    again = follow_up(a, None, wait.retry.attempts, attempt_of(a, held, 2), held, NextStep(WAIT, delay=21.0), TIERS)
    assert [(x.attempt, x.outcome) for x in again.retry.attempts] == [(1, "http_error"), (2, "circuit_open")]
    assert again.retry.attempt == 2


def test_the_very_first_attempt_can_wait() -> None:
    a, held = alert(), oc.circuit_open(5.0)
    wait = follow_up(a, None, [], attempt_of(a, held, 1), held, NextStep(WAIT, delay=5.0), TIERS)
    assert wait.retry.attempt == 1 and wait.retry.last_error.startswith("circuit breaker open")
