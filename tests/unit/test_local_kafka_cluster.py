"""The local cluster's layout and rendered configuration, without starting anything."""

from __future__ import annotations

from pathlib import Path

from newsalert.adapters import local_kafka
from newsalert.adapters.local_kafka.layout import Layout, client_env
from newsalert.config import Settings


def _props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


def _settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path, kafka_jars=tmp_path / "jars", kafka_version="4.3.1")


def test_three_nodes_get_distinct_ports_folders_and_one_quorum(tmp_path: Path) -> None:
    cfgs = local_kafka.node_configs(_settings(tmp_path), Layout(nodes=3, port=29300))
    assert [(c.node_id, c.port, c.controller_port) for c in cfgs] == [(1, 29300, 29301), (2, 29303, 29304), (3, 29306, 29307)]
    assert len({c.data_dir for c in cfgs}) == 3 and all(c.cluster_root == tmp_path / "kafka" for c in cfgs)
    props = _props(local_kafka.server_properties(cfgs[1]))
    assert props["node.id"] == "2"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:29301,2@127.0.0.1:29304,3@127.0.0.1:29307"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:29303,CONTROLLER://127.0.0.1:29304"
    assert props["offsets.topic.replication.factor"] == "3" and props["transaction.state.log.min.isr"] == "2"
    assert "-Xmx256m" == cfgs[0].heap


def test_the_single_broker_keeps_its_files_and_ports(tmp_path: Path) -> None:
    (cfg,) = local_kafka.node_configs(_settings(tmp_path), Layout())
    assert cfg == local_kafka.BrokerConfig.from_settings(_settings(tmp_path))
    assert cfg.root == tmp_path / "kafka" and cfg.secure_port is None


def test_scram_adds_a_sasl_ssl_listener_with_the_pem_key_store(tmp_path: Path) -> None:
    (cfg,) = local_kafka.node_configs(_settings(tmp_path), Layout(auth="scram", port=29400))
    props = _props(local_kafka.server_properties(cfg))
    assert props["listeners"].endswith(",SASL_SSL://127.0.0.1:29402")
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:29400,SASL_SSL://127.0.0.1:29402"
    assert props["listener.security.protocol.map"] == "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL"
    assert props["inter.broker.listener.name"] == "PLAINTEXT"
    assert props["listener.name.sasl_ssl.ssl.keystore.location"] == str(tmp_path / "kafka" / "tls" / "keystore.pem")
    env = client_env([cfg])
    assert env["NEWSALERT_KAFKA_BOOTSTRAP"] == "127.0.0.1:29402" and "NEWSALERT_KAFKA_SASL_PASSWORD" not in env


def test_a_recorded_layout_is_used_by_later_commands(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    local_kafka.write_layout(tmp_path, Layout(nodes=3, auth="scram", port=29300))
    assert local_kafka.choose(settings, None, None, None) == Layout(nodes=3, auth="scram", port=29300)
    assert local_kafka.choose(settings, None, 1, "none") == Layout(nodes=1, auth="none", port=29300)


def test_the_scram_user_is_made_once_and_private(tmp_path: Path) -> None:
    from newsalert.adapters.local_kafka.scram import ensure_user, user_file

    user = ensure_user(tmp_path)
    assert ensure_user(tmp_path) == user and user_file(tmp_path).stat().st_mode & 0o077 == 0
    assert user.password not in repr(user)
    assert f"SCRAM-SHA-512=[name=newsalert,password={user.password}]" in user.format_args()
