"""Running newsalert services as child processes: used by the demo, the end-to-end tests and the
benchmark, so all three start, watch and stop services the same way.

A ``ServiceProcess`` is one ``newsalert serve ...`` (or any command) with its output in a log file,
a health URL to wait for, and a stop that escalates from SIGTERM to SIGKILL.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from newsalert.errors import SetupError


def newsalert_executable() -> str:
    """The ``newsalert`` console script of the running interpreter's environment."""
    candidate = Path(sys.executable).with_name("newsalert")
    return str(candidate) if candidate.exists() else "newsalert"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing accepts connections on ``host:port``."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) != 0


@dataclass
class ServiceProcess:
    """A child process with its log file and an optional HTTP health URL."""

    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    health_url: str | None = None
    cwd: Path | None = None
    process: subprocess.Popen | None = None

    def start(self) -> "ServiceProcess":
        """Start the process; stdout and stderr go to ``log_path``."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, cwd=self.cwd, start_new_session=True,
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} was not started"
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_healthy(self, timeout: float = 60.0) -> None:
        """Wait until the health URL answers 2xx; raise ``SetupError`` with the log tail if the
        process exits or the time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise SetupError(f"{self.name} exited with status {self.process.returncode} during start:\n{self.log_tail()}")
            if self.health_url is None or _answers(self.health_url):
                return
            time.sleep(0.2)
        raise SetupError(f"{self.name} was not healthy at {self.health_url} after {timeout:.0f} s:\n{self.log_tail()}")

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the process (not to its group: children of a service are its business)."""
        if self.alive():
            os.kill(self.pid, sig)

    def kill(self) -> None:
        """SIGKILL, as a crash would: nothing is flushed or committed."""
        self.signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=10)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds; returns the exit status."""
        if self.process is None:
            return None
        if self.alive():
            self.signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False
