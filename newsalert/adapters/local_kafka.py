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
"""

from __future__ import annotations

import base64
import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import psutil

from newsalert.config import Settings
from newsalert.errors import SetupError
from newsalert.shipped import kafka_pom

HOST = "127.0.0.1"
HEAP = "-Xmx512m"
STOP_TIMEOUT_S = 30.0
MIN_JAVA = 17

_CHILDREN: list[subprocess.Popen] = []

INSTALL_JAVA = "install a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless)"
INSTALL_MAVEN = "install Apache Maven (Debian: apt-get install maven)"


# --- configuration ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BrokerConfig:
    """Everything that decides where and how the local broker runs."""

    version: str
    port: int
    controller_port: int
    home: Path
    jars_root: Path
    start_timeout: float = 60.0

    @classmethod
    def from_settings(cls, settings: Settings, port: int | None = None) -> "BrokerConfig":
        """The broker of ``settings``; ``port`` overrides the client port (controller = port + 1
        unless the controller port was set to something else than its default)."""
        controller = settings.kafka_controller_port
        if port is not None and port != settings.kafka_port and "kafka_controller_port" not in settings.model_fields_set:
            controller = port + 1
        return cls(
            version=settings.kafka_version or pom_default_version(),
            port=port if port is not None else settings.kafka_port,
            controller_port=controller,
            home=Path(settings.home).expanduser(),
            jars_root=Path(settings.kafka_jars).expanduser(),
            start_timeout=settings.kafka_start_timeout,
        )

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def root(self) -> Path:
        return self.home / "kafka"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "server.log"

    @property
    def stdout_file(self) -> Path:
        return self.log_dir / "stdout.log"

    @property
    def properties_file(self) -> Path:
        return self.root / "server.properties"

    @property
    def log4j_file(self) -> Path:
        return self.root / "log4j2.properties"

    @property
    def state_file(self) -> Path:
        return self.root / "broker.json"

    @property
    def lease_dir(self) -> Path:
        return self.root / "leases"

    @property
    def libs(self) -> Path:
        return self.jars_root / self.version / "libs"


def pom_default_version(pom: Path | None = None) -> str:
    """The ``kafka.version`` property of the shipped POM (``deploy/kafka/pom.xml``)."""
    pom = pom or kafka_pom()
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    node = ET.parse(pom).getroot().find("m:properties/m:kafka.version", ns)
    if node is None or not (node.text or "").strip():
        raise SetupError(f"{pom}: no <kafka.version> property")
    return node.text.strip()


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
    lines = [f"# Written by newsalert kafka start; edits are overwritten.\n"]
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


# --- state --------------------------------------------------------------------------------------


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


def _read_state(cfg: BrokerConfig) -> BrokerState | None:
    try:
        return BrokerState(**json.loads(cfg.state_file.read_text()))
    except (FileNotFoundError, ValueError, TypeError):
        return None


def _write_state(cfg: BrokerConfig, state: BrokerState) -> None:
    tmp = cfg.state_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state), indent=2))
    tmp.replace(cfg.state_file)


def _our_process(cfg: BrokerConfig, state: BrokerState | None) -> psutil.Process | None:
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
def _locked(cfg: BrokerConfig) -> Iterator[None]:
    """Serialise start/stop across processes (parallel test sessions share one broker)."""
    cfg.root.mkdir(parents=True, exist_ok=True)
    with open(cfg.root / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- probing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterInfo:
    """What a broker said in its metadata response."""

    cluster_id: str | None
    brokers: list[tuple[int, str, int]]


def _kafka_request(sock: socket.socket, api_key: int, version: int, body: bytes, correlation: int) -> bytes:
    """Send one request with header v1 and return the response body after the correlation id."""
    client = b"newsalert-probe"
    header = struct.pack(">hhih", api_key, version, correlation, len(client)) + client
    payload = header + body
    sock.sendall(struct.pack(">i", len(payload)) + payload)
    size = struct.unpack(">i", _recv_exact(sock, 4))[0]
    response = _recv_exact(sock, size)
    if struct.unpack(">i", response[:4])[0] != correlation:
        raise ValueError("correlation id mismatch")
    return response[4:]


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < n:
        chunk = sock.recv(n - len(chunks))
        if not chunk:
            raise ConnectionError("connection closed")
        chunks += chunk
    return bytes(chunks)


class _Reader:
    """Reads the non-flexible Kafka wire types from a response body."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def _take(self, fmt: str) -> int:
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return value

    def int16(self) -> int:
        return self._take(">h")

    def int32(self) -> int:
        return self._take(">i")

    def string(self) -> str | None:
        length = self.int16()
        if length < 0:
            return None
        value = self.data[self.pos : self.pos + length].decode()
        self.pos += length
        return value


def probe(host: str, port: int, timeout: float = 2.0) -> ClusterInfo | None:
    """Ask ``host:port`` for cluster metadata with the Kafka protocol; None if nothing answers
    like a Kafka broker. Raw protocol, not aiokafka, so it is synchronous, quiet and cheap.

    ApiVersions v0 first (every broker answers it), then Metadata v4: the oldest version that
    Kafka 4 still accepts (KIP-896 removed v0-v3) and the newest without flexible encoding.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            versions = _Reader(_kafka_request(sock, 18, 0, b"", 1))
            if versions.int16() != 0:
                return None
            ranges = {}
            for _ in range(versions.int32()):
                key, low, high = versions.int16(), versions.int16(), versions.int16()
                ranges[key] = (low, high)
            low, high = ranges.get(3, (99, -1))
            if not low <= 4 <= high:
                return None
            # topics = empty array (not null = all topics), allow_auto_topic_creation = false
            meta = _Reader(_kafka_request(sock, 3, 4, struct.pack(">ib", 0, 0), 2))
            meta.int32()  # throttle_time_ms
            brokers = []
            for _ in range(meta.int32()):
                node, bhost, bport = meta.int32(), meta.string(), meta.int32()
                meta.string()  # rack
                brokers.append((node, bhost or "", bport))
            return ClusterInfo(cluster_id=meta.string(), brokers=brokers)
    except (OSError, ValueError, struct.error, UnicodeDecodeError):
        return None


def port_is_free(port: int, host: str = HOST) -> bool:
    """True if a listener could bind ``host:port`` now (SO_REUSEADDR, as the JVM sets it, so a
    port in TIME_WAIT after our own broker stopped counts as free)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def port_owner(port: int) -> str | None:
    """'pid N (name: command line)' of the process listening on ``port``, if psutil can tell."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return None
    for conn in connections:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            try:
                proc = psutil.Process(conn.pid)
                cmd = " ".join(proc.cmdline())
                if len(cmd) > 200:  # a JVM's class path says nothing: keep the ends
                    cmd = cmd[:60] + " ... " + cmd[-120:]
                return f"pid {conn.pid} ({proc.name()}: {cmd})"
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                return f"pid {conn.pid}"
    return None


# --- tools and jars -----------------------------------------------------------------------------


def find_java() -> str:
    """Path of a ``java`` of version 17 or newer; SetupError saying what to install otherwise."""
    java = shutil.which("java")
    if java is None:
        raise SetupError(f"java not found on PATH: the local Kafka broker needs it; {INSTALL_JAVA}")
    out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if match:
        major = int(match.group(1))
        major = int(match.group(2) or 0) if major == 1 else major  # "1.8" is Java 8
        if major < MIN_JAVA:
            raise SetupError(f"{java} is Java {major}; Kafka 4 needs Java {MIN_JAVA} or newer: {INSTALL_JAVA}")
    return java


def ensure_jars(cfg: BrokerConfig) -> float | None:
    """Make sure the Kafka jars of ``cfg.version`` are in the cache; return the seconds spent
    downloading, or None when the cache already had them.

    Maven copies into a temporary folder that is renamed into place only when complete, so an
    interrupted download is never mistaken for a full set of jars.
    """
    marker = cfg.libs / ".complete"
    if marker.is_file():
        return None
    mvn = shutil.which("mvn")
    if mvn is None:
        raise SetupError(f"mvn not found on PATH: the Kafka jars are resolved with Maven; {INSTALL_MAVEN}")
    cfg.libs.parent.mkdir(parents=True, exist_ok=True)
    tmp = cfg.libs.parent / f"libs.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    begun = time.monotonic()
    cmd = [mvn, "-B", "-q", "-f", str(kafka_pom()), "dependency:copy-dependencies",
           f"-Dkafka.version={cfg.version}", f"-DoutputDirectory={tmp}"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0 or not any(tmp.glob(f"kafka_2.13-{cfg.version}.jar")):
        shutil.rmtree(tmp, ignore_errors=True)
        output = _tail_text(done.stdout + done.stderr, 30)
        raise SetupError(
            f"could not resolve Apache Kafka {cfg.version} with Maven ({' '.join(cmd)}), exit "
            f"{done.returncode}. Is the version published on Maven Central and the network up?\n{output}"
        )
    (tmp / ".complete").write_text(f"{cfg.version}\n")
    shutil.rmtree(cfg.libs, ignore_errors=True)
    tmp.replace(cfg.libs)
    return time.monotonic() - begun


# --- start / stop / status ----------------------------------------------------------------------


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
    with _locked(cfg):
        state = _read_state(cfg)
        proc = _our_process(cfg, state)
        if proc is not None and state is not None:
            if state.port != cfg.port:
                raise SetupError(
                    f"the newsalert broker of {cfg.home} already runs on port {state.port} (pid "
                    f"{state.pid}); stop it first to start it on port {cfg.port}"
                )
            _wait_ready(cfg, proc, time.monotonic())
            return StartResult(cfg.bootstrap, state.pid, state.version, True, state.start_seconds, None, cfg.log_file)
        _check_ports(cfg)
        java = find_java()
        jar_seconds = ensure_jars(cfg)
        _prepare_files(cfg)
        _format_storage(cfg, java)
        log_start = _log_size(cfg)
        begun = time.monotonic()
        proc = _launch(cfg, java)
        _wait_ready(cfg, proc, begun, log_start)
        seconds = time.monotonic() - begun
        _write_state(cfg, BrokerState(proc.pid, cfg.port, cfg.controller_port, cfg.version, time.time(), seconds, purpose))
        return StartResult(cfg.bootstrap, proc.pid, cfg.version, False, seconds, jar_seconds, cfg.log_file)


def _check_ports(cfg: BrokerConfig) -> None:
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


def _prepare_files(cfg: BrokerConfig) -> None:
    for folder in (cfg.data_dir, cfg.log_dir, cfg.lease_dir):
        folder.mkdir(parents=True, exist_ok=True)
    cfg.properties_file.write_text(server_properties(cfg))
    cfg.log4j_file.write_text(log4j_properties(cfg))


def _cluster_id(cfg: BrokerConfig) -> str:
    """The KRaft cluster id of this home, made once: a base64url UUID as Kafka's own tool makes
    (never starting with '-', which a command line would read as an option)."""
    path = cfg.root / "cluster.id"
    if path.is_file():
        return path.read_text().strip()
    while True:
        candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not candidate.startswith("-"):
            break
    path.write_text(candidate + "\n")
    return candidate


def _java_base(cfg: BrokerConfig, java: str) -> list[str]:
    return [java, HEAP, "-cp", f"{cfg.libs}/*", f"-Dlog4j2.configurationFile={cfg.log4j_file}",
            f"-Dkafka.logs.dir={cfg.log_dir}", "-Djava.awt.headless=true"]


def _format_storage(cfg: BrokerConfig, java: str) -> None:
    """``StorageTool format --ignore-formatted``: formats a new data dir, leaves a formatted one.

    A data dir with ``meta.properties`` is already formatted, and the tool would only confirm
    that after a JVM start of several seconds, so it is not run then."""
    if (cfg.data_dir / "meta.properties").is_file():
        return
    cmd = _java_base(cfg, java) + ["kafka.tools.StorageTool", "format", "-t", _cluster_id(cfg),
                                   "-c", str(cfg.properties_file), "--ignore-formatted"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise SetupError(
            f"formatting the Kafka storage in {cfg.data_dir} failed (exit {done.returncode}); if the "
            f"data dir belongs to another cluster, remove it.\n{_tail_text(done.stdout + done.stderr, 30)}"
        )


def _launch(cfg: BrokerConfig, java: str) -> subprocess.Popen:
    """Start ``kafka.Kafka`` detached: its own session, no terminal, output to logs/stdout.log."""
    cmd = _java_base(cfg, java) + ["kafka.Kafka", str(cfg.properties_file)]
    with open(cfg.stdout_file, "ab") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                cwd=cfg.root, start_new_session=True, close_fds=True)
    # Keep the handle: dropping a running Popen warns (ResourceWarning), and the broker is meant
    # to outlive this process anyway.
    _CHILDREN.append(proc)
    return proc


def _wait_ready(cfg: BrokerConfig, proc: subprocess.Popen | psutil.Process, begun: float,
                log_start: int = 0) -> None:
    """Wait until the broker lists itself in a metadata answer; SetupError with the log tail if
    it exits first or does not answer within the start timeout (then it is stopped)."""
    deadline = begun + cfg.start_timeout
    while True:
        info = probe(HOST, cfg.port, timeout=1.0)
        if info is not None and info.brokers:
            return
        if not _alive(proc):
            raise SetupError(
                f"the Kafka broker (pid {proc.pid}) exited during start; what it logged:\n{log_tail(cfg, since=log_start)}"
            )
        if time.monotonic() > deadline:
            _terminate(proc, STOP_TIMEOUT_S)
            raise SetupError(
                f"the Kafka broker did not answer on {cfg.bootstrap} within {cfg.start_timeout:.0f} s and was "
                f"stopped; what it logged:\n{log_tail(cfg, since=log_start)}"
            )
        time.sleep(0.2)


def _alive(proc: subprocess.Popen | psutil.Process) -> bool:
    if isinstance(proc, subprocess.Popen):
        return proc.poll() is None
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _terminate(proc: subprocess.Popen | psutil.Process, timeout: float) -> bool:
    """SIGTERM (Kafka shuts down cleanly on it), SIGKILL after ``timeout`` s; True if it had to kill."""
    ps = proc if isinstance(proc, psutil.Process) else psutil.Process(proc.pid)
    try:
        ps.send_signal(signal.SIGTERM)
        ps.wait(timeout)  # psutil reaps our own child, so no zombie is left behind
        return False
    except psutil.NoSuchProcess:
        return False
    except psutil.TimeoutExpired:
        ps.kill()
        with contextlib.suppress(psutil.NoSuchProcess, psutil.TimeoutExpired):
            ps.wait(10)
        return True


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
    with _locked(cfg):
        holders = [pid for pid in _live_leases(cfg) if pid != os.getpid()] if cfg.lease_dir.is_dir() else []
        if holders and not force and _our_process(cfg, _read_state(cfg)) is not None:
            raise SetupError(
                f"the broker on {cfg.bootstrap} is in use by test session(s) pid {', '.join(map(str, holders))}; "
                f"stopping it would break them. Wait for them, or stop anyway with --force."
            )
        return _stop_locked(cfg, timeout)


def _stop_locked(cfg: BrokerConfig, timeout: float = STOP_TIMEOUT_S) -> StopResult:
    proc = _our_process(cfg, _read_state(cfg))
    if proc is None:
        cfg.state_file.unlink(missing_ok=True)
        foreign = probe(HOST, cfg.port) is not None
        note = f"; a Kafka broker not started by newsalert answers on {cfg.bootstrap} and was left alone" if foreign else ""
        return StopResult(False, None, False, f"no newsalert broker running in {cfg.root}{note}")
    killed = _terminate(proc, timeout)
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
    record = _read_state(cfg)
    proc = _our_process(cfg, record)
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


def log_tail(cfg: BrokerConfig, lines: int = 25, since: int = 0) -> str:
    """The ERROR/FATAL lines the broker logged after byte ``since`` of its log (the cause of a
    failed start sits there, far above the shutdown noise), then the last lines of its log and
    of the JVM's own output."""
    parts = []
    errors = _error_lines(cfg.log_file, since)
    if errors:
        parts.append(f"--- errors in {cfg.log_file} ---\n" + "\n".join(errors))
    for path in (cfg.log_file, cfg.stdout_file):
        if path.is_file():
            with open(path, "rb") as handle:
                handle.seek(0, os.SEEK_END)
                handle.seek(max(0, handle.tell() - 64 * 1024))
                text = handle.read().decode(errors="replace")
            if text.strip():
                parts.append(f"--- {path} ---\n{_tail_text(text, lines)}")
    return "\n".join(parts) or f"(no log written under {cfg.log_dir})"


def _error_lines(path: Path, since: int, limit: int = 12) -> list[str]:
    """ERROR and FATAL records from byte ``since`` on, each with the exception line after it."""
    if not path.is_file():
        return []
    with open(path, "rb") as handle:
        if since <= path.stat().st_size:
            handle.seek(since)
        text = handle.read(4 * 1024 * 1024).decode(errors="replace")
    found: list[str] = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if re.search(r"\] (ERROR|FATAL) ", line):
            found.append(line[:500])
            if i + 1 < len(lines) and not lines[i + 1].startswith("["):
                found.append(lines[i + 1][:500])
        if len(found) >= limit:
            break
    return found


def _log_size(cfg: BrokerConfig) -> int:
    try:
        return cfg.log_file.stat().st_size
    except FileNotFoundError:
        return 0


def _tail_text(text: str, lines: int) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


# --- leases: several test sessions sharing one broker -------------------------------------------


@contextlib.contextmanager
def lease(cfg: BrokerConfig, purpose: str = "tests") -> Iterator[StartResult]:
    """Use the local broker for the duration of the block: start it if needed (recorded as
    ``purpose``), and at the end stop it only if it was started for ``purpose`` and no other live
    process holds a lease. Parallel test sessions on one machine therefore never stop the broker
    under each other, and a broker started by hand (purpose "cli") is never stopped by tests.
    """
    cfg.lease_dir.mkdir(parents=True, exist_ok=True)
    mine = cfg.lease_dir / str(os.getpid())
    mine.write_text(purpose)
    try:
        yield start(cfg, purpose=purpose)
    finally:
        mine.unlink(missing_ok=True)
        # Check and stop under one lock, so a session taking a lease meanwhile cannot lose its broker.
        with _locked(cfg):
            state = _read_state(cfg)
            if not _live_leases(cfg) and state is not None and state.purpose == purpose:
                _stop_locked(cfg)


def _live_leases(cfg: BrokerConfig) -> list[int]:
    """Pids holding a lease; files of dead processes are removed."""
    live = []
    for path in cfg.lease_dir.glob("*"):
        if path.name.isdigit() and psutil.pid_exists(int(path.name)):
            live.append(int(path.name))
        else:
            path.unlink(missing_ok=True)
    return live
