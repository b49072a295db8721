"""A batch's records are settled (committable) only once its follow-up is durable, and the byte
budget of a batch is the notifier's setting."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

from newsalert.config import Settings
from newsalert.domain.alerts import new_batch
from newsalert.domain.chat import chat_body
from newsalert.services.notifier.consumer import Notifier
from newsalert.services.notifier.lanes import Work
from tests.unit.test_notifier_ack_pipeline import DESK, TP, Publisher, Sender, States, _settle_idle, alert

BATCHED = replace(DESK, batch_max=10)


def _notifier(sender: Sender, publisher: Publisher, **settings) -> Notifier:
    return Notifier(Settings(**settings), {"desk": BATCHED}, sender=sender, publisher=publisher, states=States())


def test_alerts_waiting_together_go_in_one_post_and_settle_only_once_its_record_is_acknowledged() -> None:
    async def scenario() -> None:
        sender, publisher = Sender(), Publisher()
        notifier = _notifier(sender, publisher)
        alerts = [alert(n) for n in range(4)]
        for offset, a in enumerate(alerts):
            notifier.lanes.queue(Work(notifier.tracker.add(TP, offset), a, BATCHED, size=1_000))
        await _settle_idle()
        assert sender.posted == [new_batch("desk", alerts).webhook_id]  # one POST for the four
        assert [[r.topic for r in records] for records, _ in publisher.sends] == [["deliveries.attempts"]]
        assert notifier.tracker.to_commit() == {} and notifier.lanes.in_progress(TP) == 4
        publisher.sends[0][1].answer.set_result([])
        await _settle_idle()
        assert notifier.tracker.to_commit() == {TP: 4} and notifier.lanes.in_progress(TP) == 0
        assert (notifier.stats.batches, notifier.stats.batched) == (1, 4)

    asyncio.run(scenario())


def test_the_batch_byte_budget_is_the_notifiers_setting() -> None:
    async def scenario() -> None:
        sender, publisher = Sender(), Publisher()
        notifier = _notifier(sender, publisher, notifier_batch_max_bytes=2_500)
        alerts = [alert(n) for n in range(5)]
        for offset, a in enumerate(alerts):
            notifier.lanes.queue(Work(notifier.tracker.add(TP, offset), a, BATCHED, size=1_000))
        await _settle_idle()
        for _, sent in publisher.sends:
            sent.answer.set_result([])
        await _settle_idle()
        # 2,500 bytes take two 1,000-byte alerts per POST: 2 + 2 + 1 (the last goes alone).
        assert sender.posted == [new_batch("desk", alerts[:2]).webhook_id, new_batch("desk", alerts[2:4]).webhook_id,
                                 alerts[4].webhook_id]
        assert notifier.tracker.to_commit() == {TP: 5}

    asyncio.run(scenario())


def test_a_batch_to_a_chat_endpoint_reads_as_one_message_listing_its_alerts() -> None:
    batch = new_batch("desk", [alert(1), alert(2), alert(3)])
    for fmt in ("slack", "teams", "discord"):
        text = json.dumps(json.loads(chat_body(fmt, batch)))
        assert "3 alerts" in text


def test_the_per_alert_metric_counts_every_alert_of_a_delivered_batch() -> None:
    async def scenario() -> None:
        sender, publisher = Sender(), Publisher()
        notifier = _notifier(sender, publisher)
        for offset in range(3):
            notifier.lanes.queue(Work(notifier.tracker.add(TP, offset), alert(offset), BATCHED, size=1_000))
        await _settle_idle()
        publisher.sends[0][1].answer.set_result([])
        await _settle_idle()
        assert len(sender.posted) == 1
        assert notifier.metrics.registry.get_sample_value("newsalert_notifier_deliveries_total", {"result": "delivered"}) == 3

    asyncio.run(scenario())
