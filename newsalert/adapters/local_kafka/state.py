"""What ``start`` recorded (``broker.json``), whether that process is still ours, and the lock
that serialises start and stop between processes."""

from __future__ import annotations

import contextlib
import fcntl
import json
from dataclasses import asdict, dataclass
from typing import Iterator

import psutil

from newsalert.adapters.local_kafka.config import BrokerConfig


@dataclass(frozen=True)
class BrokerState:
    """What ``start`` recorded about the broker it launched."""

    pid: int
    port: int
    controller_port: int
    version: str
    started_at: float
    start_seconds: float
    purpose: str  # "cli" or "tests": a broker started for tests is stopped by its last test session


def read_state(cfg: BrokerConfig) -> BrokerState | None:
    try:
        return BrokerState(**json.loads(cfg.state_file.read_text()))
    except (FileNotFoundError, ValueError, TypeError):
        return None


def write_state(cfg: BrokerConfig, state: BrokerState) -> None:
    tmp = cfg.state_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state), indent=2))
    tmp.replace(cfg.state_file)


def our_process(cfg: BrokerConfig, state: BrokerState | None) -> psutil.Process | None:
    """The live broker process recorded in the state file, or None; a pid reused by another
    program (or a zombie) does not count."""
    if state is None:
        return None
    try:
        proc = psutil.Process(state.pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        cmdline = proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    if "kafka.Kafka" in cmdline and str(cfg.properties_file) in cmdline:
        return proc
    return None


@contextlib.contextmanager
def locked(cfg: BrokerConfig) -> Iterator[None]:
    """Serialise start/stop across processes (parallel test sessions share one broker); one lock
    for every node of the home."""
    cfg.cluster_root.mkdir(parents=True, exist_ok=True)
    with open(cfg.cluster_root / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def live_leases(cfg: BrokerConfig) -> list[int]:
    """Pids holding a lease; files of dead processes are removed."""
    live = []
    for path in cfg.lease_dir.glob("*"):
        if path.name.isdigit() and psutil.pid_exists(int(path.name)):
            live.append(int(path.name))
        else:
            path.unlink(missing_ok=True)
    return live
