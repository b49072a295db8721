"""Is a Kafka broker answering on a port? A hand-written metadata request (raw wire protocol),
and who holds a port."""

from __future__ import annotations

import errno
import socket
import struct
from dataclasses import dataclass

import psutil

from newsalert.adapters.local_kafka.config import HOST


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
