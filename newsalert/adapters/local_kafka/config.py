"""Where and how the local broker runs: ``BrokerConfig`` from the settings, the POM's Kafka version."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from newsalert.config import Settings
from newsalert.errors import SetupError
from newsalert.shipped import kafka_pom

HOST = "127.0.0.1"
HEAP = "-Xmx512m"
STOP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class BrokerConfig:
    """Everything that decides where and how the local broker runs."""

    version: str
    port: int
    controller_port: int
    home: Path
    jars_root: Path
    start_timeout: float = 60.0
    # A member of a local cluster (see ``layout``); the defaults are the single broker.
    node_id: int = 1
    voters: tuple[tuple[int, int], ...] = ()  # (node id, controller port) of every node; () = this one alone
    secure_port: int | None = None  # a SASL_SSL listener with SCRAM users (``--auth scram``)
    heap: str = HEAP
    node_dir: str = ""  # "" = the single broker in home/kafka; "node-2" for a cluster member

    @classmethod
    def from_settings(cls, settings: Settings, port: int | None = None) -> "BrokerConfig":
        """The broker of ``settings``; ``port`` overrides the client port (controller = port + 1
        unless the controller port was set to something else than its default)."""
        controller = settings.kafka_controller_port
        if port is not None and port != settings.kafka_port and "kafka_controller_port" not in settings.model_fields_set:
            controller = port + 1
        return cls(
            version=settings.kafka_version or pom_default_version(),
            port=port if port is not None else settings.kafka_port,
            controller_port=controller,
            home=Path(settings.home).expanduser(),
            jars_root=Path(settings.kafka_jars).expanduser(),
            start_timeout=settings.kafka_start_timeout,
        )

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def cluster_root(self) -> Path:
        """Files shared by every node of the home: cluster id, lock, TLS, SCRAM user, layout."""
        return self.home / "kafka"

    @property
    def root(self) -> Path:
        return self.cluster_root / self.node_dir if self.node_dir else self.cluster_root

    @property
    def quorum(self) -> tuple[tuple[int, int], ...]:
        """(node id, controller port) of every controller of the cluster this node belongs to."""
        return self.voters or ((self.node_id, self.controller_port),)

    @property
    def secure_bootstrap(self) -> str | None:
        return f"{HOST}:{self.secure_port}" if self.secure_port else None

    @property
    def tls_dir(self) -> Path:
        return self.cluster_root / "tls"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "server.log"

    @property
    def stdout_file(self) -> Path:
        return self.log_dir / "stdout.log"

    @property
    def properties_file(self) -> Path:
        return self.root / "server.properties"

    @property
    def log4j_file(self) -> Path:
        return self.root / "log4j2.properties"

    @property
    def state_file(self) -> Path:
        return self.root / "broker.json"

    @property
    def lease_dir(self) -> Path:
        return self.root / "leases"

    @property
    def libs(self) -> Path:
        return self.jars_root / self.version / "libs"


def pom_default_version(pom: Path | None = None) -> str:
    """The ``kafka.version`` property of the shipped POM (``deploy/kafka/pom.xml``)."""
    pom = pom or kafka_pom()
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    node = ET.parse(pom).getroot().find("m:properties/m:kafka.version", ns)
    if node is None or not (node.text or "").strip():
        raise SetupError(f"{pom}: no <kafka.version> property")
    return node.text.strip()
