"""Existing topics compared with the configured layout (nothing on the broker)."""

from __future__ import annotations

from newsalert.adapters.topic_drift import compare
from newsalert.adapters.topics import catalogue, topic_config
from newsalert.config import Settings


def _described(partitions: int, replicas: int) -> dict:
    return {"partitions": [{"partition": p, "replicas": list(range(replicas))} for p in range(partitions)]}


def test_every_topic_gets_min_insync_replicas() -> None:
    settings = Settings(replication_factor=3, min_insync_replicas=2)
    for spec in catalogue(settings):
        config = topic_config(settings, spec)
        assert config["min.insync.replicas"] == "2"
        assert all(config[key] == value for key, value in spec.config.items())


def test_a_matching_topic_has_no_drift() -> None:
    assert compare("t", 4, 3, {"min.insync.replicas": "2"}, _described(4, 3), {"min.insync.replicas": "2"}) == []


def test_replication_partitions_and_config_differences_are_reported_with_advice() -> None:
    found = compare("t", 6, 3, {"min.insync.replicas": "2"}, _described(4, 1), {"min.insync.replicas": "1"})
    assert [(d.what, d.actual, d.wanted) for d in found] == [
        ("partitions", "4", "6"), ("replication factor", "1", "3"), ("min.insync.replicas", "1", "2")]
    advice = [d.advice() for d in found]
    assert "--partitions 6" in advice[0]
    assert "not changeable in place" in advice[1]
    assert "--add-config min.insync.replicas=2" in advice[2]


def test_fewer_partitions_wanted_says_kafka_cannot_remove_them() -> None:
    (drift,) = compare("t", 2, 1, {}, _described(4, 1), {})
    assert "cannot remove partitions" in drift.advice()
