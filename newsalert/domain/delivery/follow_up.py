"""What follows one delivery attempt: the records to produce, decided from its outcome.

Pure: the notifier passes what was attempted (an alert or a digest, its attempt number and the
attempts before), the attempt's record, the retry decision (``retry.next_step``), the retry tiers
and the time; it gets back plain records to produce together (acks=all) before the alert's offset
may be committed:

- delivered: the ``DeliveryAttempt``;
- retry: the ``DeliveryAttempt`` (with ``next_attempt_at``) and a ``RetryEnvelope`` for the retry
  topic of the delay's tier;
- wait (held back by the circuit breaker, nothing sent): the ``circuit_open`` record (with
  ``next_attempt_at``) and a ``RetryEnvelope`` carrying the *same* attempt number, so the wait
  shows in the attempt log without using up the schedule. The carried history keeps one wait per
  attempt number (the latest), so a long outage does not crowd the real attempts out of it;
- dead: the ``DeliveryAttempt`` and one ``DeadDelivery`` per alert (a digest's or batch's alerts are each
  dead-lettered alone, so each can be replayed alone) and, for ``410 Gone``, the
  ``SubscriberState`` disabling the subscriber.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Sequence

from newsalert.domain.delivery.outcome import AttemptOutcome
from newsalert.domain.delivery.outcome import CIRCUIT_OPEN
from newsalert.domain.delivery.retry import DEAD, DONE, WAIT, NextStep, tier_for
from newsalert.schemas import Alert, Batch, DeadDelivery, DeliveryAttempt, Digest, RetryEnvelope, SubscriberState
from newsalert.schemas._common import truncate
from newsalert.schemas.delivery import ERROR_MAX

HISTORY_MAX = 50
"""Attempts carried by a retry or dead letter (the schedule allows at most 51)."""


@dataclass(frozen=True)
class FollowUp:
    """The records that follow an attempt; ``action`` is the step's (done, retry or dead)."""

    action: str
    attempt: DeliveryAttempt
    retry: RetryEnvelope | None = None
    tier: float | None = None  # delay of the retry topic that takes ``retry``
    dead: tuple[DeadDelivery, ...] = ()
    disable: SubscriberState | None = None
    dead_reason: str | None = None


def follow_up(
    alert: Alert | None,
    group: Digest | Batch | None,
    history: Sequence[DeliveryAttempt],
    attempt: DeliveryAttempt,
    result: AttemptOutcome,
    step: NextStep,
    tiers: Sequence[float],
) -> FollowUp:
    """The follow-up of ``attempt`` (of ``alert``, or of ``group`` when it is a digest or a batch)."""
    if step.action == DONE:
        return FollowUp(DONE, attempt)
    error = result.error or result.outcome
    if step.action == DEAD:
        carried = [*history, attempt][-HISTORY_MAX:]
        disable = None
        if step.disable:
            disable = SubscriberState(subscriber=attempt.subscriber, status="disabled", reason=f"{attempt.url} answered 410 Gone",
                                      webhook_id=attempt.webhook_id, at=attempt.at)
        dead = dead_letters(alert, group, step.dead_reason, error, carried, attempt.at)
        return FollowUp(DEAD, attempt, dead=dead, disable=disable, dead_reason=step.dead_reason)
    due = attempt.at + timedelta(seconds=step.delay)
    attempt = attempt.model_copy(update={"next_attempt_at": due})
    carried = [*_without_repeated_wait(history, attempt), attempt][-HISTORY_MAX:]
    following = attempt.attempt if step.action == WAIT else attempt.attempt + 1
    if step.action == WAIT and history and history[-1].outcome != CIRCUIT_OPEN:
        error = history[-1].error or history[-1].outcome  # the last real failure, not the wait
    envelope = RetryEnvelope(alert=alert, digest=group if isinstance(group, Digest) else None,
                             batch=group if isinstance(group, Batch) else None, attempt=following, due_at=due,
                             last_error=truncate(error, ERROR_MAX), attempts=carried)
    return FollowUp(step.action, attempt, retry=envelope, tier=tier_for(step.delay, tuple(tiers)))


def _without_repeated_wait(history: Sequence[DeliveryAttempt], attempt: DeliveryAttempt) -> list[DeliveryAttempt]:
    """``history`` without its last entry when that and ``attempt`` are waits of the same attempt."""
    if (history and attempt.outcome == CIRCUIT_OPEN and history[-1].outcome == CIRCUIT_OPEN
            and history[-1].attempt == attempt.attempt):
        return list(history[:-1])
    return list(history)


def dead_letters(
    alert: Alert | None, group: Digest | Batch | None, reason: str, error: str, history: Sequence[DeliveryAttempt], now: datetime
) -> tuple[DeadDelivery, ...]:
    """The dead letter of an alert; for a digest or a batch, one per alert it lists, each replayable alone."""
    alerts = group.alerts if group is not None else [alert]
    last_error = truncate(error, ERROR_MAX)
    return tuple(DeadDelivery(alert=a, reason=reason, attempts=list(history), last_error=last_error, dead_at=now) for a in alerts)
