"""deploy/compose/cluster.yml, the three-broker override of docker-compose.yml, checked without
Docker by merging it onto the base file as Compose merges an override (mappings key by key)."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
BROKERS = ("kafka", "kafka-2", "kafka-3")


def _merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return merged


def _services() -> dict[str, dict]:
    base = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    override = yaml.safe_load((REPO / "deploy" / "compose" / "cluster.yml").read_text(encoding="utf-8"))
    return _merge(base, override)["services"]


def test_three_brokers_form_one_quorum_with_replicated_internal_topics() -> None:
    services = _services()
    envs = [services[name]["environment"] for name in BROKERS]
    assert [env["KAFKA_NODE_ID"] for env in envs] == [1, 2, 3]
    assert len({env["CLUSTER_ID"] for env in envs}) == 1
    assert {env["KAFKA_CONTROLLER_QUORUM_VOTERS"] for env in envs} == {"1@kafka:9093,2@kafka-2:9093,3@kafka-3:9093"}
    for name, env in zip(BROKERS, envs):
        assert f"PLAINTEXT://{name}:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == 3 and env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == 2
        assert services[name]["image"] == services["kafka"]["image"] and "healthcheck" in services[name]
    host_ports = [env["KAFKA_ADVERTISED_LISTENERS"].rsplit(":", 1)[1] for env in envs]
    assert host_ports == ["9094", "9095", "9096"]


def test_every_app_service_uses_all_brokers_and_replicates_its_topics() -> None:
    services = _services()
    for name, spec in services.items():
        if spec.get("image") != "newsalert:local":
            continue
        env = spec["environment"]
        assert env["NEWSALERT_KAFKA_BOOTSTRAP"] == "kafka:9092,kafka-2:9092,kafka-3:9092", name
        assert (env["NEWSALERT_REPLICATION_FACTOR"], env["NEWSALERT_MIN_INSYNC_REPLICAS"]) == ("3", "2"), name
    assert set(services["topics"]["depends_on"]) == set(BROKERS)
