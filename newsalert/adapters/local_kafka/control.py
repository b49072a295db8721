"""``start``, ``stop`` and ``status`` of the local broker of one home."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from newsalert.adapters.local_kafka.config import HOST, STOP_TIMEOUT_S, BrokerConfig
from newsalert.adapters.local_kafka.jars import ensure_jars, find_java
from newsalert.adapters.local_kafka.jvm import format_storage, launch, prepare_files, terminate, wait_ready
from newsalert.adapters.local_kafka.logs import log_size
from newsalert.adapters.local_kafka.probe import port_is_free, port_owner, probe
from newsalert.adapters.local_kafka.state import BrokerState, live_leases, locked, our_process, read_state, write_state
from newsalert.errors import SetupError


@dataclass(frozen=True)
class StartResult:
    """What ``start`` did."""

    bootstrap: str
    pid: int
    version: str
    already_running: bool
    start_seconds: float  # launch until the first metadata answer (or the recorded one if running)
    jar_seconds: float | None  # None: jars came from the cache
    log_file: Path


def start(cfg: BrokerConfig, purpose: str = "cli") -> StartResult:
    """Start the local broker and wait until it answers a metadata request; a no-op when the
    broker of this home already runs. Raises SetupError with what to do when it cannot."""
    with locked(cfg):
        state = read_state(cfg)
        proc = our_process(cfg, state)
        if proc is not None and state is not None:
            if state.port != cfg.port:
                raise SetupError(
                    f"the newsalert broker of {cfg.home} already runs on port {state.port} (pid "
                    f"{state.pid}); stop it first to start it on port {cfg.port}"
                )
            wait_ready(cfg, proc, time.monotonic())
            return StartResult(cfg.bootstrap, state.pid, state.version, True, state.start_seconds, None, cfg.log_file)
        check_ports(cfg)
        java = find_java()
        jar_seconds = ensure_jars(cfg)
        prepare_files(cfg)
        format_storage(cfg, java)
        log_start = log_size(cfg)
        begun = time.monotonic()
        proc = launch(cfg, java)
        wait_ready(cfg, proc, begun, log_start)
        seconds = time.monotonic() - begun
        write_state(cfg, BrokerState(proc.pid, cfg.port, cfg.controller_port, cfg.version, time.time(), seconds, purpose))
        return StartResult(cfg.bootstrap, proc.pid, cfg.version, False, seconds, jar_seconds, cfg.log_file)


def check_ports(cfg: BrokerConfig) -> None:
    for name, port in (("client", cfg.port), ("controller", cfg.controller_port)):
        if port_is_free(port):
            continue
        owner = port_owner(port)
        who = f" by {owner}" if owner else " by another process (psutil cannot tell which)"
        kafka = probe(HOST, port) if name == "client" else None
        what = (f"a Kafka broker, but not the one newsalert started for home {cfg.home}" if kafka
                else "not a Kafka broker")
        raise SetupError(
            f"{name} port {port} on {HOST} is already taken{who}: {what}. Stop it, or choose other "
            f"ports with NEWSALERT_KAFKA_PORT / NEWSALERT_KAFKA_CONTROLLER_PORT (or --port)."
        )


@dataclass(frozen=True)
class StopResult:
    """What ``stop`` did."""

    stopped: bool
    pid: int | None
    killed: bool
    message: str


def stop(cfg: BrokerConfig, timeout: float = STOP_TIMEOUT_S, force: bool = True) -> StopResult:
    """Stop the broker this home started (only that one); a no-op when it is not running.
    With ``force=False`` it refuses (SetupError) while test sessions hold a lease on it."""
    with locked(cfg):
        holders = [pid for pid in live_leases(cfg) if pid != os.getpid()] if cfg.lease_dir.is_dir() else []
        if holders and not force and our_process(cfg, read_state(cfg)) is not None:
            raise SetupError(
                f"the broker on {cfg.bootstrap} is in use by test session(s) pid {', '.join(map(str, holders))}; "
                f"stopping it would break them. Wait for them, or stop anyway with --force."
            )
        return stop_locked(cfg, timeout)


def stop_locked(cfg: BrokerConfig, timeout: float = STOP_TIMEOUT_S) -> StopResult:
    proc = our_process(cfg, read_state(cfg))
    if proc is None:
        cfg.state_file.unlink(missing_ok=True)
        foreign = probe(HOST, cfg.port) is not None
        note = f"; a Kafka broker not started by newsalert answers on {cfg.bootstrap} and was left alone" if foreign else ""
        return StopResult(False, None, False, f"no newsalert broker running in {cfg.root}{note}")
    killed = terminate(proc, timeout)
    cfg.state_file.unlink(missing_ok=True)
    how = f"killed after not stopping within {timeout:.0f} s" if killed else "stopped"
    return StopResult(True, proc.pid, killed, f"newsalert broker pid {proc.pid} on {cfg.bootstrap} {how}")


@dataclass(frozen=True)
class Status:
    """One of: ``running`` (ours, answering), ``starting`` (ours, not answering yet),
    ``foreign`` (a broker not started by this home answers on the port), ``stopped``."""

    state: str
    pid: int | None
    message: str


def status(cfg: BrokerConfig) -> Status:
    """Which broker, if any, serves ``cfg.bootstrap``."""
    record = read_state(cfg)
    proc = our_process(cfg, record)
    info = probe(HOST, cfg.port)
    if proc is not None and record is not None:
        if info is not None and info.brokers:
            return Status("running", proc.pid, f"running: newsalert broker (Kafka {record.version}) pid {proc.pid} "
                          f"on {HOST}:{record.port}, data in {cfg.data_dir}")
        return Status("starting", proc.pid, f"started by newsalert (pid {proc.pid}) but not answering on {HOST}:{record.port} yet")
    if info is not None:
        owner = port_owner(cfg.port)
        return Status("foreign", None, f"a Kafka broker not started by newsalert answers on {cfg.bootstrap}"
                      + (f" ({owner})" if owner else ""))
    return Status("stopped", None, f"not running: nothing answers on {cfg.bootstrap}")
