"""A real Apache Kafka broker (or local KRaft cluster) on this machine, without Docker:
``newsalert kafka start|stop|status``.

Jars come from Maven Central into a cache outside the repository; one module per concern (config,
layout, properties, tls, scram, jars, jvm, state, probe, logs, control, leases). Files on disk and
the stop safety rule: ``docs/architecture.md`` ("Local Kafka"); usage: ``docs/deploy.md``.
"""

from newsalert.adapters.local_kafka.config import HOST, BrokerConfig, pom_default_version
from newsalert.adapters.local_kafka.control import StartResult, Status, StopResult, start, start_nodes, status, stop, stop_nodes
from newsalert.adapters.local_kafka.jars import ensure_jars, find_java
from newsalert.adapters.local_kafka.layout import Layout, bootstrap, choose, node_configs, write_layout
from newsalert.adapters.local_kafka.leases import lease
from newsalert.adapters.local_kafka.logs import error_lines, log_tail
from newsalert.adapters.local_kafka.probe import (
    ClusterInfo,
    port_is_free,
    port_owner,
    probe,
)
from newsalert.adapters.local_kafka.properties import (
    log4j_properties,
    server_properties,
)
from newsalert.adapters.local_kafka.scram import ScramUser, read_user
from newsalert.adapters.local_kafka.state import BrokerState, read_state
from newsalert.adapters.local_kafka.tls import ca_file

__all__ = [
    "HOST", "BrokerConfig", "BrokerState", "ClusterInfo", "Layout", "ScramUser", "StartResult", "Status", "StopResult",
    "bootstrap", "ca_file", "choose", "ensure_jars", "error_lines", "find_java", "lease", "log4j_properties", "log_tail",
    "node_configs", "pom_default_version", "port_is_free", "port_owner", "probe", "read_state", "read_user",
    "server_properties", "start", "start_nodes", "status", "stop", "stop_nodes", "write_layout",
]
