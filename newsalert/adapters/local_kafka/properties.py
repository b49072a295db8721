"""The broker's ``server.properties`` and ``log4j2.properties``, rendered from a ``BrokerConfig``."""

from __future__ import annotations

from newsalert.adapters.local_kafka.config import HOST, BrokerConfig


def server_properties(cfg: BrokerConfig) -> str:
    """The broker's ``server.properties``: single-node KRaft on loopback."""
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{HOST}:{cfg.controller_port}",
        "listeners": f"PLAINTEXT://{HOST}:{cfg.port},CONTROLLER://{HOST}:{cfg.controller_port}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{cfg.port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(cfg.data_dir),
        # One broker: every internal topic must fit on it, or groups/transactions never work.
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
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
    lines = ["# Written by newsalert kafka start; edits are overwritten.\n"]
    lines += [f"{key}={value}\n" for key, value in settings.items()]
    return "".join(lines)


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
