"""Fixtures shared by every test package: the real local Kafka broker and per-test topic names.

``kafka_bootstrap`` (session) makes sure a broker answers: the configured
``NEWSALERT_KAFKA_BOOTSTRAP`` if something already serves it, otherwise the local broker of
``newsalert kafka start``, started with the same code. A test session holds a lease on the local
broker, so parallel sessions on one machine share it and the last one out stops it, and only when
it was started for tests. There is no skip: a broker that cannot start fails the tests loudly.

Package conftests (tests/integration, tests/e2e) add their own fixtures on top of these.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from typing import Iterator

import pytest

from newsalert.adapters import local_kafka
from newsalert.config import Settings
from newsalert.errors import SetupError

LOOPBACK = {"127.0.0.1", "localhost"}


def _first_server(bootstrap: str) -> tuple[str, int]:
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    if not host or not port.isdigit():
        raise pytest.UsageError(f"NEWSALERT_KAFKA_BOOTSTRAP={bootstrap!r} is not host:port[,host:port...]")
    return host, int(port)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """The bootstrap address of a running Kafka broker for this test session."""
    settings = Settings()
    host, port = _first_server(settings.kafka_bootstrap)
    local = host in LOOPBACK and port == settings.kafka_port
    cfg = local_kafka.BrokerConfig.from_settings(settings)
    if not local or local_kafka.status(cfg).state == "foreign":
        # A broker we do not manage: use it if it answers, never start or stop anything.
        if local_kafka.probe(host, port) is None:
            pytest.fail(f"no Kafka broker answers on {settings.kafka_bootstrap} (NEWSALERT_KAFKA_BOOTSTRAP), "
                        f"and it is not the local broker's port {settings.kafka_port}", pytrace=False)
        yield settings.kafka_bootstrap
        return
    with contextlib.ExitStack() as stack:
        try:
            result = stack.enter_context(local_kafka.lease(cfg, purpose="tests"))
        except SetupError as exc:
            pytest.fail(f"the local Kafka broker could not start: {exc}", pytrace=False)
        how = "already running" if result.already_running else f"started in {result.start_seconds:.1f} s"
        print(f"\nKafka {result.version} on {result.bootstrap}: {how}")
        yield result.bootstrap


@pytest.fixture
def topic_prefix(request) -> Iterator[str]:
    """A prefix unique to this test (``t-<8 hex>-``) for topic and group names on the shared broker.

    The test's topics are deleted afterwards: a broker that keeps every test's partitions grows to
    thousands of them, and then starts slowly and runs out of heap.
    """
    prefix = f"t-{uuid.uuid4().hex[:8]}-"
    yield prefix
    if "kafka_bootstrap" in request.fixturenames:
        _delete_topics(request.getfixturevalue("kafka_bootstrap"), prefix)


def _delete_topics(bootstrap: str, prefix: str) -> None:
    """Delete every topic whose name starts with ``prefix``; best effort (the test has ended)."""
    from aiokafka.admin import AIOKafkaAdminClient

    async def delete() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
        await admin.start()
        try:
            names = [t for t in await admin.list_topics() if t.startswith(prefix)]
            if names:
                await admin.delete_topics(names)
        finally:
            await admin.close()

    # A thread of its own: the test's event loop (pytest-asyncio) may still be set on this one.
    worker = threading.Thread(target=lambda: _quietly(lambda: asyncio.run(delete())), daemon=True)
    worker.start()
    worker.join(30)


def _quietly(action) -> None:
    try:
        action()
    except Exception as exc:  # cleanup must never turn a passing test into an error
        print(f"topic cleanup failed: {exc!r}")


@pytest.fixture
def kafka_settings(kafka_bootstrap: str, topic_prefix: str) -> Settings:
    """Settings pointing at the session's broker with this test's topic prefix.

    Test receivers listen on 127.0.0.1, which the SSRF guard refuses by default: these settings
    allow private targets (as the e2e ``pipeline`` fixture does); the guard's own tests
    (test_ssrf, test_http_guard, test_process_faults) set the policy explicitly.
    """
    return Settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix, allow_private_targets=True)
