"""The local broker's configuration, rendered without starting anything."""

from __future__ import annotations

from pathlib import Path

from newsalert.adapters import local_kafka
from newsalert.config import Settings


def _props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


def test_server_properties_single_node_kraft_on_loopback(tmp_path: Path) -> None:
    cfg = local_kafka.BrokerConfig("4.3.1", 19092, 19093, tmp_path, tmp_path / "jars")
    props = _props(local_kafka.server_properties(cfg))
    assert props["process.roles"] == "broker,controller"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["log.dirs"] == str(tmp_path / "kafka" / "data")
    for key in ("offsets.topic.replication.factor", "transaction.state.log.replication.factor",
                "share.coordinator.state.topic.replication.factor", "offsets.topic.num.partitions"):
        assert props[key] == "1", key
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert props["auto.create.topics.enable"] == "false"


def test_log4j_config_writes_into_the_log_dir(tmp_path: Path) -> None:
    cfg = local_kafka.BrokerConfig("4.3.1", 19092, 19093, tmp_path, tmp_path / "jars")
    text = local_kafka.log4j_properties(cfg)
    assert f"appender.file.fileName = {tmp_path / 'kafka' / 'logs' / 'server.log'}" in text
    assert "rootLogger.appenderRef.file.ref = file" in text


def test_port_override_moves_the_controller_along() -> None:
    settings = Settings(home=Path("/x"), kafka_jars=Path("/j"), kafka_version="4.3.1")
    cfg = local_kafka.BrokerConfig.from_settings(settings, port=29092)
    assert (cfg.port, cfg.controller_port) == (29092, 29093)
    assert cfg.libs == Path("/j/4.3.1/libs")
    explicit = Settings(home=Path("/x"), kafka_version="4.3.1", kafka_controller_port=40000)
    assert local_kafka.BrokerConfig.from_settings(explicit, port=29092).controller_port == 40000
    assert local_kafka.BrokerConfig.from_settings(settings).port == settings.kafka_port


def test_pom_names_the_default_version() -> None:
    assert local_kafka.pom_default_version() == "4.3.1"


def test_error_lines_pick_errors_after_offset(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    old = "[2026-01-01 00:00:00,000] ERROR old failure (x)\n"
    log.write_text(old + "[t] INFO fine (x)\n[t] ERROR Fatal error during broker startup (y)\n"
                   "org.apache.kafka.common.KafkaException: Failed to acquire lock\n\tat a.b(C)\n")
    lines = local_kafka.error_lines(log, since=len(old))
    assert lines == ["[t] ERROR Fatal error during broker startup (y)",
                     "org.apache.kafka.common.KafkaException: Failed to acquire lock"]
