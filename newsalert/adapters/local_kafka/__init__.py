"""A real Apache Kafka broker on this machine, without Docker: ``newsalert kafka start|stop|status``.

The jars come from Maven Central through ``deploy/kafka/pom.xml`` (``mvn dependency:copy-dependencies``)
into a cache outside the repository (``Settings.kafka_jars/<version>/libs``), reused when present.
The broker is one KRaft process acting as broker and controller on 127.0.0.1, with every internal
topic at replication factor 1 and automatic topic creation off (the services create their topics).

Files under ``Settings.home/kafka/``::

    server.properties   log4j2.properties   rendered on every start from the settings
    cluster.id          the KRaft cluster id, made once so the data dir keeps its identity
    data/               the broker's log dirs (KRaft metadata and topic data)
    logs/server.log     the broker's own log; logs/stdout.log the JVM's stdout and stderr
    broker.json         pid, port, version and why it was started, written by ``start``
    leases/<pid>        test sessions using the broker (see ``lease``)
    .lock               serialises start and stop between processes

``stop`` only ever signals the process recorded in ``broker.json`` and only if its command line
is still our ``kafka.Kafka`` with our ``server.properties``: a reused pid or a broker started by
someone else is never touched.

A home can instead run a local cluster (``start --nodes 3``: ``kafka/node-N/`` each laid out as
above, sharing ``cluster.id``, ``.lock`` and the layout in ``cluster.json``) and a SASL_SSL
listener with a SCRAM user (``--auth scram``: ``kafka/tls/`` CA and broker certificate,
``kafka/scram.json`` the user, 0600).

The package has one concern per module: ``config`` (where and how), ``layout`` (which nodes),
``properties`` (rendered files), ``tls`` and ``scram`` (the secured listener), ``jars`` (Java and
Maven), ``jvm`` (format, launch, wait, terminate), ``state`` (``broker.json``, lock, leases on
disk), ``probe`` (raw metadata request, port owners), ``logs``, ``control`` (start/stop/status)
and ``leases`` (test sessions sharing the broker).
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
