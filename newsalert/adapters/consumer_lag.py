"""Consumer-group lag, as the broker knows it (for the operator console).

Lag of a group = over the partitions it has committed offsets for, the end offset minus the
committed offset. (Group membership is not asked: DescribeGroups answers do not decode with the
pinned aiokafka 0.14 against the local broker, so the console shows lag and commits only.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aiokafka.errors import KafkaError

from newsalert.adapters import kafka_clients
from newsalert.config import Settings
from newsalert.errors import TransientError


@dataclass(frozen=True)
class GroupLag:
    """One consumer group: total lag, lag per topic, and how many partitions it has committed."""

    group: str
    lag: int
    by_topic: dict[str, int] = field(default_factory=dict)
    committed_partitions: int = 0


async def group_lags(settings: Settings, groups: list[str]) -> list[GroupLag]:
    """The lag of each consumer group in ``groups`` (full names); ``TransientError`` when the
    broker cannot be asked."""
    admin = kafka_clients.admin(settings, request_timeout_ms=10000, client_id="newsalert-console")
    consumer = kafka_clients.consumer(settings, group_id=None, enable_auto_commit=False, client_id="newsalert-console")
    try:
        await admin.start()
        await consumer.start()
        out = []
        for group in groups:
            committed = {tp: meta for tp, meta in (await admin.list_consumer_group_offsets(group)).items() if meta.offset >= 0}
            ends = await consumer.end_offsets(list(committed)) if committed else {}
            out.append(_lag_of(group, committed, ends))
        return out
    except KafkaError as exc:
        raise TransientError(f"asking {settings.kafka_bootstrap} for consumer-group offsets failed: {exc!r}") from exc
    finally:
        await consumer.stop()
        await admin.close()


def _lag_of(group: str, committed: dict, ends: dict) -> GroupLag:
    by_topic: dict[str, int] = {}
    for tp, meta in committed.items():
        by_topic[tp.topic] = by_topic.get(tp.topic, 0) + max(0, ends.get(tp, meta.offset) - meta.offset)
    return GroupLag(group, sum(by_topic.values()), dict(sorted(by_topic.items())), len(committed))
