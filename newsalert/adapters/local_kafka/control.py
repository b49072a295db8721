"""``start``, ``stop`` and ``status`` of the local broker, or of every node of a local cluster, of one home."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from newsalert.adapters.local_kafka.config import HOST, STOP_TIMEOUT_S, BrokerConfig
from newsalert.adapters.local_kafka.jars import ensure_jars, find_java
from newsalert.adapters.local_kafka.jvm import (
    alive,
    format_storage,
    launch,
    prepare_files,
    terminate,
    wait_ready,
)
from newsalert.adapters.local_kafka.logs import log_size
from newsalert.adapters.local_kafka.probe import port_is_free, port_owner, probe
from newsalert.adapters.local_kafka.scram import ScramUser, ensure_user
from newsalert.adapters.local_kafka.state import (
    BrokerState,
    live_leases,
    locked,
    our_process,
    read_state,
    write_state,
)
from newsalert.adapters.local_kafka.tls import ensure_tls
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
    return start_nodes([cfg], purpose)[0]


def start_nodes(cfgs: list[BrokerConfig], purpose: str = "cli") -> list[StartResult]:
    """Start every node of ``cfgs`` that does not run yet (all launched before any is waited
    for: a cluster answers only once a majority of its controllers is up) and wait until each
    answers. With a SASL_SSL listener the TLS files and the SCRAM user are made first."""
    with locked(cfgs[0]):
        running = {cfg.node_id: _running(cfg) for cfg in cfgs}
        todo = [cfg for cfg in cfgs if running[cfg.node_id] is None]
        for cfg in todo:
            check_ports(cfg)
        java = find_java() if todo else ""
        jar_seconds = ensure_jars(cfgs[0]) if todo else None
        scram = _secure_files(cfgs[0]) if todo and cfgs[0].secure_port else None
        for cfg in todo:
            prepare_files(cfg)
            format_storage(cfg, java, scram)
        begun = time.monotonic()
        launched = {cfg.node_id: (launch(cfg, java), log_size(cfg)) for cfg in todo}
        try:
            results = [_await_node(cfg, running[cfg.node_id], launched.get(cfg.node_id), begun, jar_seconds, purpose) for cfg in cfgs]
        except SetupError:
            # One node failed: the others of this start would wait for a quorum forever.
            for proc, _ in launched.values():
                if alive(proc):
                    with contextlib.suppress(psutil.NoSuchProcess):
                        terminate(proc, STOP_TIMEOUT_S)
            raise
        return results


def _running(cfg: BrokerConfig) -> tuple[psutil.Process, BrokerState] | None:
    """This node's live process and record, if it runs; SetupError if it runs on other ports."""
    state = read_state(cfg)
    proc = our_process(cfg, state)
    if proc is None or state is None:
        return None
    if state.port != cfg.port:
        raise SetupError(
            f"the newsalert broker of {cfg.root} already runs on port {state.port} (pid "
            f"{state.pid}); stop it first to start it on port {cfg.port}"
        )
    return proc, state


def _await_node(cfg: BrokerConfig, running, launched, begun: float, jar_seconds: float | None, purpose: str) -> StartResult:
    """Wait for one node (already running, or just launched) to answer and record it."""
    if running is not None:
        proc, state = running
        wait_ready(cfg, proc, time.monotonic())
        return StartResult(cfg.bootstrap, state.pid, state.version, True, state.start_seconds, None, cfg.log_file)
    proc, log_start = launched
    wait_ready(cfg, proc, begun, log_start)
    seconds = time.monotonic() - begun
    write_state(cfg, BrokerState(proc.pid, cfg.port, cfg.controller_port, cfg.version, time.time(), seconds, purpose))
    return StartResult(cfg.bootstrap, proc.pid, cfg.version, False, seconds, jar_seconds, cfg.log_file)


def _secure_files(cfg: BrokerConfig) -> ScramUser:
    """The CA and broker certificate, and the SCRAM user, of the home (made once)."""
    ensure_tls(cfg.tls_dir)
    return ensure_user(cfg.cluster_root)


def check_ports(cfg: BrokerConfig) -> None:
    ports = [("client", cfg.port), ("controller", cfg.controller_port)]
    ports += [("SASL_SSL", cfg.secure_port)] if cfg.secure_port else []
    for name, port in ports:
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
    return _stop_process(cfg, our_process(cfg, read_state(cfg)), timeout)


def _stop_process(cfg: BrokerConfig, proc: psutil.Process | None, timeout: float) -> StopResult:
    if proc is None:
        cfg.state_file.unlink(missing_ok=True)
        foreign = probe(HOST, cfg.port) is not None
        note = f"; a Kafka broker not started by newsalert answers on {cfg.bootstrap} and was left alone" if foreign else ""
        return StopResult(False, None, False, f"no newsalert broker running in {cfg.root}{note}")
    killed = terminate(proc, timeout)
    cfg.state_file.unlink(missing_ok=True)
    how = f"killed after not stopping within {timeout:.0f} s" if killed else "stopped"
    return StopResult(True, proc.pid, killed, f"newsalert broker pid {proc.pid} on {cfg.bootstrap} {how}")


def stop_nodes(cfgs: list[BrokerConfig], timeout: float = STOP_TIMEOUT_S) -> list[StopResult]:
    """Stop every node of ``cfgs`` that this home started: all are signalled at once (the last
    controllers would otherwise wait for a quorum that is already gone), then waited for."""
    with locked(cfgs[0]):
        procs = {cfg.node_id: our_process(cfg, read_state(cfg)) for cfg in cfgs}
        for proc in procs.values():
            if proc is not None:
                with contextlib.suppress(psutil.NoSuchProcess):
                    proc.terminate()
        return [_stop_process(cfg, procs[cfg.node_id], timeout) for cfg in cfgs]


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
