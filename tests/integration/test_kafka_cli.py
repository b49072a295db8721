"""``newsalert kafka start|stop|status`` as a user runs them, on a broker of its own.

Every test here uses its own NEWSALERT_HOME (in tmp) and free ports, so the shared broker of the
session is never touched, but the same jar cache (NEWSALERT_KAFKA_JARS), so nothing downloads again.
"""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from newsalert.adapters import local_kafka
from newsalert.config import Settings

pytestmark = pytest.mark.kafka

CLI = str(Path(sys.executable).with_name("newsalert"))


def _free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on 127.0.0.1 right now."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _env(home: Path, port: int, controller: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSALERT_")}
    env.update(NEWSALERT_HOME=str(home), NEWSALERT_KAFKA_PORT=str(port),
               NEWSALERT_KAFKA_CONTROLLER_PORT=str(controller),
               NEWSALERT_KAFKA_BOOTSTRAP=f"127.0.0.1:{port}")
    if "NEWSALERT_KAFKA_JARS" in os.environ:
        env["NEWSALERT_KAFKA_JARS"] = os.environ["NEWSALERT_KAFKA_JARS"]
    return env


def _cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, "kafka", *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def own_broker(tmp_path: Path):
    """(env, config) of a broker private to this test; stopped afterwards whatever happened."""
    port, controller = _free_ports(2)
    env = _env(tmp_path / "home", port, controller)
    # The same settings the CLI reads from env (jar cache and version come from the environment).
    cfg = local_kafka.BrokerConfig.from_settings(
        Settings(home=tmp_path / "home", kafka_port=port, kafka_controller_port=controller))
    yield env, cfg
    local_kafka.stop(cfg, timeout=20)


def test_start_twice_status_stop(own_broker) -> None:
    env, cfg = own_broker

    before = _cli(env, "status")
    assert before.returncode == 3, before
    assert "not running" in before.stdout

    started = _cli(env, "start")
    assert started.returncode == 0, started.stderr
    assert f"started Kafka {cfg.version}" in started.stdout
    assert "downloaded" not in started.stdout, "the shared jar cache should have been reused"
    info = local_kafka.probe("127.0.0.1", cfg.port)
    assert info is not None and info.brokers == [(1, "127.0.0.1", cfg.port)]
    pid = local_kafka.read_state(cfg).pid
    print(f"\nbroker start (warm jar cache): {started.stdout.strip()}")

    again = _cli(env, "start")
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stdout and f"pid {pid}" in again.stdout
    assert local_kafka.read_state(cfg).pid == pid  # no second broker

    status = _cli(env, "status")
    assert status.returncode == 0
    assert status.stdout.startswith("running: newsalert broker") and f"pid {pid}" in status.stdout

    # Seen from another home the same broker is foreign: reported, refused, never stopped.
    other = {**env, "NEWSALERT_HOME": str(cfg.home.parent / "other-home")}
    foreign = _cli(other, "status")
    assert foreign.returncode == 0 and "not started by newsalert" in foreign.stdout
    refused = _cli(other, "start")
    assert refused.returncode == 1
    assert f"port {cfg.port}" in refused.stderr and "Kafka broker" in refused.stderr
    left_alone = _cli(other, "stop")
    assert left_alone.returncode == 0 and "left alone" in left_alone.stdout
    assert psutil.pid_exists(pid) and local_kafka.probe("127.0.0.1", cfg.port) is not None

    # A test session (here: this process) holding a lease keeps `stop` from pulling the broker away.
    lease = cfg.lease_dir / str(os.getpid())
    lease.write_text("tests")
    refused_stop = _cli(env, "stop")
    lease.unlink()
    assert refused_stop.returncode == 1
    assert f"in use by test session(s) pid {os.getpid()}" in refused_stop.stderr and "--force" in refused_stop.stderr
    assert local_kafka.probe("127.0.0.1", cfg.port) is not None

    stopped = _cli(env, "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert f"pid {pid}" in stopped.stdout and "stopped" in stopped.stdout
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert local_kafka.probe("127.0.0.1", cfg.port) is None

    after = _cli(env, "status")
    assert after.returncode == 3 and "not running" in after.stdout
    nothing = _cli(env, "stop")
    assert nothing.returncode == 0 and "no newsalert broker running" in nothing.stdout


@pytest.mark.parametrize("which", ["client", "controller"])
def test_port_taken_names_the_port_and_process(own_broker, which: str) -> None:
    env, cfg = own_broker
    taken = cfg.port if which == "client" else cfg.controller_port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()
        result = _cli(env, "start", timeout=60)
    assert result.returncode == 1
    assert result.stdout == ""
    assert f"{which} port {taken} on 127.0.0.1 is already taken" in result.stderr
    assert f"pid {os.getpid()}" in result.stderr  # psutil names this test process as the squatter
    assert "not a Kafka broker" in result.stderr
    assert local_kafka.read_state(cfg) is None


def test_broker_exiting_during_start_shows_its_log(own_broker) -> None:
    """Another process holds the data dir's lock (as a second broker on the same data would):
    the broker dies at start, and the error carries the tail of its log."""
    env, cfg = own_broker
    assert _cli(env, "start").returncode == 0
    assert _cli(env, "stop").returncode == 0

    begun = time.monotonic()
    with open(cfg.data_dir / ".lock", "a") as lock_file:
        fcntl.lockf(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the POSIX lock the JVM's tryLock uses
        result = _cli(env, "start")
    assert result.returncode == 1
    assert "exited during start" in result.stderr
    assert f"--- errors in {cfg.log_file} ---" in result.stderr  # its error lines follow ...
    assert "lock" in result.stderr.split("exited during start", 1)[1].lower()  # ... and says why
    assert time.monotonic() - begun < 60
    assert local_kafka.probe("127.0.0.1", cfg.port) is None
    assert local_kafka.read_state(cfg) is None
