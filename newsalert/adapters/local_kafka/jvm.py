"""The broker's JVM: storage format, launch (detached), readiness wait and termination."""

from __future__ import annotations

import base64
import contextlib
import signal
import subprocess
import time
import uuid

import psutil

from newsalert.adapters.local_kafka.config import HOST, STOP_TIMEOUT_S, BrokerConfig
from newsalert.adapters.local_kafka.logs import log_tail, tail_text
from newsalert.adapters.local_kafka.probe import probe
from newsalert.adapters.local_kafka.properties import (
    log4j_properties,
    server_properties,
)
from newsalert.adapters.local_kafka.scram import ScramUser
from newsalert.errors import SetupError

_CHILDREN: list[subprocess.Popen] = []


def prepare_files(cfg: BrokerConfig) -> None:
    for folder in (cfg.data_dir, cfg.log_dir, cfg.lease_dir):
        folder.mkdir(parents=True, exist_ok=True)
    cfg.properties_file.write_text(server_properties(cfg))
    cfg.log4j_file.write_text(log4j_properties(cfg))


def cluster_id(cfg: BrokerConfig) -> str:
    """The KRaft cluster id of this home (shared by its nodes), made once: a base64url UUID as
    Kafka's own tool makes (never starting with '-', which a command line would read as an option)."""
    path = cfg.cluster_root / "cluster.id"
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_file():
        return path.read_text().strip()
    while True:
        candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not candidate.startswith("-"):
            break
    path.write_text(candidate + "\n")
    return candidate


def java_base(cfg: BrokerConfig, java: str) -> list[str]:
    return [java, cfg.heap, "-cp", f"{cfg.libs}/*", f"-Dlog4j2.configurationFile={cfg.log4j_file}",
            f"-Dkafka.logs.dir={cfg.log_dir}", "-Djava.awt.headless=true"]


def format_storage(cfg: BrokerConfig, java: str, scram: ScramUser | None = None) -> None:
    """``StorageTool format --ignore-formatted``: formats a new data dir, leaves a formatted one.

    A data dir with ``meta.properties`` is already formatted, and the tool would only confirm
    that after a JVM start of several seconds, so it is not run then. ``scram`` registers that
    user; a data dir formatted without it cannot get it afterwards (SetupError)."""
    marker = cfg.data_dir / "newsalert-scram-user"
    if (cfg.data_dir / "meta.properties").is_file():
        if scram is not None and not marker.is_file():
            raise SetupError(
                f"the data dir {cfg.data_dir} was formatted without SCRAM users, which KRaft adds only at "
                f"format time: remove {cfg.data_dir} (its topics are lost) or use another NEWSALERT_HOME"
            )
        return
    cmd = java_base(cfg, java) + ["kafka.tools.StorageTool", "format", "-t", cluster_id(cfg),
                                   "-c", str(cfg.properties_file), "--ignore-formatted"]
    cmd += scram.format_args() if scram is not None else []
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise SetupError(
            f"formatting the Kafka storage in {cfg.data_dir} failed (exit {done.returncode}); if the "
            f"data dir belongs to another cluster, remove it.\n{tail_text(done.stdout + done.stderr, 30)}"
        )
    if scram is not None:
        marker.write_text(scram.name + "\n")


def launch(cfg: BrokerConfig, java: str) -> subprocess.Popen:
    """Start ``kafka.Kafka`` detached: its own session, no terminal, output to logs/stdout.log."""
    cmd = java_base(cfg, java) + ["kafka.Kafka", str(cfg.properties_file)]
    with open(cfg.stdout_file, "ab") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                cwd=cfg.root, start_new_session=True, close_fds=True)
    # Keep the handle: dropping a running Popen warns (ResourceWarning), and the broker is meant
    # to outlive this process anyway.
    _CHILDREN.append(proc)
    return proc


def wait_ready(cfg: BrokerConfig, proc: subprocess.Popen | psutil.Process, begun: float,
                log_start: int = 0) -> None:
    """Wait until the broker lists itself in a metadata answer; SetupError with the log tail if
    it exits first or does not answer within the start timeout (then it is stopped)."""
    deadline = begun + cfg.start_timeout
    while True:
        info = probe(HOST, cfg.port, timeout=1.0)
        if info is not None and info.brokers:
            return
        if not alive(proc):
            raise SetupError(
                f"the Kafka broker (pid {proc.pid}) exited during start; what it logged:\n{log_tail(cfg, since=log_start)}"
            )
        if time.monotonic() > deadline:
            terminate(proc, STOP_TIMEOUT_S)
            raise SetupError(
                f"the Kafka broker did not answer on {cfg.bootstrap} within {cfg.start_timeout:.0f} s and was "
                f"stopped; what it logged:\n{log_tail(cfg, since=log_start)}"
            )
        time.sleep(0.2)


def alive(proc: subprocess.Popen | psutil.Process) -> bool:
    if isinstance(proc, subprocess.Popen):
        return proc.poll() is None
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def terminate(proc: subprocess.Popen | psutil.Process, timeout: float) -> bool:
    """SIGTERM (Kafka shuts down cleanly on it), SIGKILL after ``timeout`` s; True if it had to kill."""
    ps = proc if isinstance(proc, psutil.Process) else psutil.Process(proc.pid)
    try:
        ps.send_signal(signal.SIGTERM)
    except psutil.NoSuchProcess:
        return False
    if _wait_gone(ps, timeout):
        return False
    with contextlib.suppress(psutil.NoSuchProcess):
        ps.kill()
    _wait_gone(ps, 10)
    return True


def _wait_gone(ps: psutil.Process, timeout: float) -> bool:
    """Wait until the process has exited; True if it did within ``timeout`` s.

    psutil reaps our own child, so no zombie is left behind; a broker started by another process
    that is still alive (a test session, while ``newsalert kafka stop`` runs) stays a zombie until
    that parent reaps it, and a zombie has exited as far as stopping goes.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            ps.wait(0.2)
            return True
        except psutil.NoSuchProcess:
            return True
        except psutil.TimeoutExpired:
            pass
        if not alive(ps):
            return True
        if time.monotonic() > deadline:
            return False
