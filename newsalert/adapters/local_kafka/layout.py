"""Which brokers a home runs: one (the default), or a local cluster of N, with or without the
SASL_SSL listener. ``start --nodes/--auth`` records the choice in ``kafka/cluster.json`` so that
``status`` and ``stop`` (and a later ``start``) cover every node without being told again.

Ports of node i (1-based) of a cluster on base port P: client P + 3(i-1), controller +1, SASL_SSL
+2. The single broker keeps its ports (client, controller from the settings; SASL_SSL client + 2).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from newsalert.adapters.local_kafka.config import BrokerConfig
from newsalert.config import Settings
from newsalert.errors import SetupError

AUTH_MODES = ("none", "scram")
CLUSTER_HEAP = "-Xmx256m"  # three JVMs share a small machine; a test cluster holds little data
PORTS_PER_NODE = 3


@dataclass(frozen=True)
class Layout:
    nodes: int = 1
    auth: str = "none"
    port: int | None = None  # None: the settings' port


def layout_file(home: Path) -> Path:
    return home / "kafka" / "cluster.json"


def read_layout(home: Path) -> Layout | None:
    try:
        return Layout(**json.loads(layout_file(home).read_text()))
    except (FileNotFoundError, ValueError, TypeError):
        return None


def write_layout(home: Path, layout: Layout) -> None:
    path = layout_file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(layout)))


def choose(settings: Settings, port: int | None, nodes: int | None, auth: str | None) -> Layout:
    """The layout asked for, completed from the recorded one (or the single plain broker)."""
    recorded = read_layout(Path(settings.home).expanduser()) or Layout()
    return Layout(
        nodes=nodes if nodes is not None else recorded.nodes,
        auth=auth if auth is not None else recorded.auth,
        port=port if port is not None else recorded.port,
    )


def node_configs(settings: Settings, layout: Layout) -> list[BrokerConfig]:
    """One ``BrokerConfig`` per node of ``layout``."""
    if layout.auth not in AUTH_MODES:
        raise SetupError(f"unknown --auth {layout.auth!r}: one of {', '.join(AUTH_MODES)}")
    base = BrokerConfig.from_settings(settings, port=layout.port)
    if layout.nodes == 1:
        return [replace(base, secure_port=base.port + 2 if layout.auth == "scram" else None)]
    ports = [base.port + PORTS_PER_NODE * i for i in range(layout.nodes)]
    voters = tuple((i + 1, port + 1) for i, port in enumerate(ports))
    return [
        replace(base, node_id=i + 1, port=port, controller_port=port + 1, voters=voters, heap=CLUSTER_HEAP,
                node_dir=f"node-{i + 1}", secure_port=port + 2 if layout.auth == "scram" else None)
        for i, port in enumerate(ports)
    ]


def bootstrap(cfgs: list[BrokerConfig], secure: bool = False) -> str:
    """Comma-separated bootstrap servers of the nodes (their SASL_SSL listeners if ``secure``)."""
    return ",".join(f"{cfg.secure_bootstrap if secure else cfg.bootstrap}" for cfg in cfgs)


def client_env(cfgs: list[BrokerConfig], password: str | None = None) -> dict[str, str]:
    """The ``NEWSALERT_*`` variables that point the services at these nodes: the plain listeners,
    or the SASL_SSL ones with the SCRAM user and the home's CA (the password only if given)."""
    if not cfgs[0].secure_port:
        return {"NEWSALERT_KAFKA_BOOTSTRAP": bootstrap(cfgs)}
    env = {
        "NEWSALERT_KAFKA_BOOTSTRAP": bootstrap(cfgs, secure=True),
        "NEWSALERT_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "NEWSALERT_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "NEWSALERT_KAFKA_SASL_USERNAME": "newsalert",
        "NEWSALERT_KAFKA_SSL_CAFILE": str(cfgs[0].tls_dir / "ca.pem"),
    }
    if password is not None:
        env["NEWSALERT_KAFKA_SASL_PASSWORD"] = password
    return env
