"""Topics on the real broker compared with changed settings: created with min.insync.replicas,
and every difference reported (nothing changed on the broker)."""

from __future__ import annotations

import pytest

from newsalert.adapters.topic_drift import topic_drift
from newsalert.adapters.topics import ensure_topics
from newsalert.config import Settings
from newsalert.errors import SetupError

pytestmark = pytest.mark.kafka


async def test_created_topics_match_and_changed_settings_are_reported(kafka_settings: Settings) -> None:
    await ensure_topics(kafka_settings)
    assert await topic_drift(kafka_settings) == []

    changed = kafka_settings.model_copy(update={"articles_partitions": 6, "replication_factor": 2})
    found = {(d.topic, d.what): (d.actual, d.wanted) for d in await topic_drift(changed)}
    articles = kafka_settings.topic("articles")
    assert found[(articles, "partitions")] == ("4", "6")
    assert found[(articles, "replication factor")] == ("1", "2")
    # Nothing was changed: the topics still have the layout they were created with.
    assert await topic_drift(kafka_settings) == []


async def test_a_replication_factor_above_the_broker_count_is_a_setup_error(kafka_settings: Settings) -> None:
    too_many = kafka_settings.model_copy(update={"replication_factor": 3})
    with pytest.raises(SetupError, match="NEWSALERT_REPLICATION_FACTOR"):
        await ensure_topics(too_many)
