"""Which waiting alerts of a lane go together in one batch, and what a batch looks like on the wire."""

from __future__ import annotations

import json
from collections import deque
from datetime import datetime, timezone

import pytest
from pydantic import SecretStr, ValidationError

from newsalert.domain.alerts import new_alert, new_batch
from newsalert.domain.delivery import outcome as oc
from newsalert.domain.delivery.endpoints import Endpoint
from newsalert.domain.delivery.follow_up import follow_up
from newsalert.domain.delivery.retry import DEAD, RETRY, NextStep
from newsalert.schemas import Alert, Article, DeliveryAttempt, RetryEnvelope
from newsalert.schemas.rules import Subscriber
from newsalert.services.notifier.batching import BATCH_BYTES_MAX, take_batch
from newsalert.services.notifier.offsets import OffsetTracker
from newsalert.services.notifier.sender import payload_body
from newsalert.services.notifier.work import Work
from tests.support import SECRET


def alert(n: int) -> Alert:
    return new_alert(Article(id=f"a{n}", title=f"t{n}"), "r1", "t", "desk", ruleset_version="v")


def endpoint(batch_max: int | None) -> Endpoint:
    return Endpoint("desk", "https://hooks.example.org/desk", (SecretStr(SECRET),), batch_max=batch_max)


def queue_of(count: int, batch_max: int | None = 3, size: int = 1000) -> deque[Work]:
    tracker = OffsetTracker()
    return deque(Work(tracker.add("p", n), alert(n), endpoint(batch_max), size=size) for n in range(count))


def test_waiting_alerts_go_together_up_to_batch_max_in_order() -> None:
    queue = queue_of(5)
    first, second = take_batch(queue), take_batch(queue)
    assert [a.article.id for a in first.batch.alerts] == ["a0", "a1", "a2"]
    assert [a.article.id for a in second.batch.alerts] == ["a3", "a4"] and not queue
    assert len(first.tickets()) == 3 and first.alert is None and first.item is first.batch


def test_a_lone_alert_goes_alone() -> None:
    work = take_batch(queue_of(1))
    assert work.batch is None and work.alert.article.id == "a0"


def test_no_batch_without_batch_max_or_for_a_retry() -> None:
    assert take_batch(queue_of(3, batch_max=None)).batch is None
    queue = queue_of(3)
    queue[1].attempt = 2  # a retried alert is not batched, and stops the batch behind the head
    assert take_batch(queue).batch is None and take_batch(queue).batch is None


def test_batch_is_bounded_in_bytes() -> None:
    queue = queue_of(4, batch_max=10, size=BATCH_BYTES_MAX // 3)
    assert len(take_batch(queue).batch.alerts) == 3


def test_batch_body_lists_each_alerts_own_body_under_the_batchs_id() -> None:
    alerts = [alert(1), alert(2)]
    batch = new_batch("desk", alerts)
    body = json.loads(payload_body(batch))
    assert list(body) == ["type", "webhook_id", "subscriber", "count", "alerts"]
    assert (body["type"], body["webhook_id"], body["subscriber"], body["count"]) == ("batch", batch.webhook_id, "desk", 2)
    assert body["alerts"] == [json.loads(payload_body(a)) for a in alerts]
    assert new_batch("desk", alerts).webhook_id == batch.webhook_id  # stable: a retry keeps it
    assert new_batch("desk", alerts[::-1]).webhook_id != batch.webhook_id not in {a.webhook_id for a in alerts}


def test_batch_is_retried_as_one_and_dead_lettered_alert_by_alert() -> None:
    batch = new_batch("desk", [alert(1), alert(2), alert(3)])
    at, result = datetime(2026, 12, 4, tzinfo=timezone.utc), oc.from_status(500)
    attempt = DeliveryAttempt(subscriber="desk", webhook_id=batch.webhook_id, attempt=1, outcome=result.outcome,
                              status_code=500, latency_ms=1.0, at=at)
    retry = follow_up(None, batch, [], attempt, result, NextStep(RETRY, delay=5.0), (5.0,))
    envelope = RetryEnvelope.model_validate_json(retry.retry.to_json())
    assert envelope.batch == batch and envelope.alert is None and envelope.digest is None
    dead = follow_up(None, batch, [], attempt, result, NextStep(DEAD, dead_reason="exhausted"), (5.0,))
    assert [d.alert for d in dead.dead] == batch.alerts


@pytest.mark.parametrize("bad", [{"batch_max": 1}, {"batch_max": 1001}, {"batch_max": 5, "format": "slack"}])
def test_batch_max_is_2_to_1000_and_only_for_standard_bodies(bad: dict) -> None:
    with pytest.raises(ValidationError) as info:
        Subscriber(id="desk", url="https://hooks.example.org/desk", secret=SECRET, **bad)
    assert "batch_max" in str(info.value)
    assert Subscriber(id="desk", url="https://hooks.example.org/desk", secret=SECRET, batch_max=1000).batch_max == 1000
