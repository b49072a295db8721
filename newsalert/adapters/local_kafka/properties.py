"""The broker's ``server.properties`` and ``log4j2.properties``, rendered from a ``BrokerConfig``."""

from __future__ import annotations

from newsalert.adapters.local_kafka.config import HOST, BrokerConfig


def server_properties(cfg: BrokerConfig) -> str:
    """The broker's ``server.properties``: KRaft on loopback, broker and controller in one process;
    one node alone, or one of a local cluster (``cfg.quorum``); a SASL_SSL listener if asked."""
    size = len(cfg.quorum)
    listeners = {"PLAINTEXT": cfg.port, "CONTROLLER": cfg.controller_port}
    if cfg.secure_port:
        listeners["SASL_SSL"] = cfg.secure_port
    settings = {
        "process.roles": "broker,controller",
        "node.id": str(cfg.node_id),
        "controller.quorum.voters": ",".join(f"{node}@{HOST}:{port}" for node, port in cfg.quorum),
        "listeners": ",".join(f"{name}://{HOST}:{port}" for name, port in listeners.items()),
        "advertised.listeners": ",".join(f"{name}://{HOST}:{port}" for name, port in listeners.items() if name != "CONTROLLER"),
        "controller.listener.names": "CONTROLLER",
        # Brokers talk to each other in plain text on loopback; only clients need the secured listener.
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": ",".join(f"{name}:{'SASL_SSL' if name == 'SASL_SSL' else 'PLAINTEXT'}" for name in listeners),
        "log.dirs": str(cfg.data_dir),
        # Every internal topic must fit on the brokers there are (one alone), or groups and
        # transactions never work; on a cluster they are replicated like the service's topics.
        "offsets.topic.replication.factor": str(size),
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": str(size),
        "transaction.state.log.min.isr": str(min(2, size)),
        "share.coordinator.state.topic.replication.factor": str(size),
        "share.coordinator.state.topic.min.isr": str(min(2, size)),
        # Tests start and stop consumer groups all the time; the 3 s default delays each join.
        "group.initial.rebalance.delay.ms": "0",
        # The services create their topics explicitly, with the partition counts they need;
        # auto-creation would hide a missing create step.
        "auto.create.topics.enable": "false",
        "num.partitions": "1",
        # Keep a developer's disk in check: a week of data, small segments.
        "log.retention.hours": "168",
        "log.segment.bytes": str(64 * 1024 * 1024),
    }
    if size > 1:
        # A killed broker is fenced (its partitions get new leaders) after 6 s instead of 9 s.
        settings |= {"broker.heartbeat.interval.ms": "1000", "broker.session.timeout.ms": "6000"}
    if cfg.secure_port:
        settings |= secure_listener_properties(cfg)
    lines = ["# Written by newsalert kafka start; edits are overwritten.\n"]
    lines += [f"{key}={value}\n" for key, value in settings.items()]
    return "".join(lines)


def secure_listener_properties(cfg: BrokerConfig) -> dict[str, str]:
    """The SASL_SSL listener: SCRAM users (made at storage format), the broker's PEM key and
    certificate signed by the home's CA (see ``tls``)."""
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    return {
        "sasl.enabled.mechanisms": "SCRAM-SHA-256,SCRAM-SHA-512",
        "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config": scram,
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": scram,
        "listener.name.sasl_ssl.ssl.keystore.type": "PEM",
        "listener.name.sasl_ssl.ssl.keystore.location": str(cfg.tls_dir / "keystore.pem"),
    }


def log4j_properties(cfg: BrokerConfig) -> str:
    """A log4j2 configuration that writes the broker's log to ``logs/server.log`` (rolled at 20 MB)."""
    log = cfg.log_file
    return f"""# Written by newsalert kafka start; edits are overwritten.
status = warn
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = {log}
appender.file.filePattern = {log}.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 20MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
# Per-request logging is very chatty at INFO.
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""
