"""newsalert on a real three-broker KRaft cluster (``newsalert kafka start --nodes 3 --auth scram``
code, own home and ports; the shared broker is never touched), every client over SASL_SSL with
SCRAM-SHA-512 and the cluster's generated CA.

- A broker is killed with SIGKILL mid-stream (the one leading the consumer groups' coordinator
  partition, the hardest one to lose) with replication factor 3 and min.insync.replicas 2: the
  matcher and the notifier carry on once leadership moved, every expected alert (computed from
  the generated articles) arrives, duplicates are counted; the broker then restarts and rejoins
  every in-sync replica set.
- Two of the three brokers killed (the controller quorum goes with them): the services wait and,
  once the brokers are back, every alert arrives.
- ingest, api, matcher and notifier serve over SASL_SSL and an article POSTed to ingest arrives
  as an alert; a wrong password and an untrusted CA end a service at once with one error naming
  the setting to fix.

One cluster serves the whole module (starting three JVMs costs about 20 s on two cores).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from newsalert.adapters import local_kafka
from newsalert.adapters.local_kafka.layout import Layout, client_env
from newsalert.adapters.processes import free_port, newsalert_executable
from newsalert.config import Settings
from newsalert.domain.delivery.ids import webhook_id

from .conftest import REPO, Pipeline, expected_alerts

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]

NODES = 3
ARTICLES = 600
EVERY = 3
RATE = 40  # articles/s: a 15 s stream, the kill 5 s into it
KILL_AFTER_S = 5
TWO_DOWN_S = 10
TWO_DOWN_ARTICLES = 2100  # published beforehand; the matcher is still at them when two brokers die
WORD = "kingfisher"
RULE_ID = "kingfisher-watch"
SUBSCRIBERS = ("desk-a", "desk-b")
SECRET = "whsec_" + base64.b64encode(b"cluster test secret: 32 bytes!!!").decode()  # test only


def _free_base_port() -> int:
    """A base port with the 3 x NODES ports after it free (client, controller, SASL_SSL per node)."""
    for _ in range(200):
        base = random.randrange(20000, 60000 - 3 * NODES)
        if all(local_kafka.port_is_free(base + i) for i in range(3 * NODES)):
            return base
    raise AssertionError("no free range of ports for the test cluster")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A running three-node cluster with the SASL_SSL listener; stopped after the module."""
    home = tmp_path_factory.mktemp("cluster-home")
    settings = Settings(home=home)
    layout = Layout(nodes=NODES, auth="scram", port=_free_base_port())
    cfgs = local_kafka.node_configs(settings, layout)
    results = local_kafka.start_nodes(cfgs, purpose="tests")
    local_kafka.write_layout(home, layout)  # as `newsalert kafka start --nodes 3 --auth scram` records it
    print(f"\ncluster of {NODES} started in {max(r.start_seconds for r in results):.1f} s")
    try:
        yield cfgs
    finally:
        # `newsalert kafka stop` finds every node from the recorded layout; the API call after it
        # is a safety net that finds nothing left to stop.
        env = {**os.environ, "NEWSALERT_HOME": str(home)}
        stopped = subprocess.run([newsalert_executable(), "kafka", "stop"], env=env, capture_output=True, text=True, timeout=120)
        leftovers = [r for r in local_kafka.stop_nodes(cfgs, timeout=20) if r.stopped]
        assert stopped.returncode == 0 and stopped.stdout.count(" stopped") == NODES, stopped.stdout + stopped.stderr
        assert not leftovers and all(local_kafka.probe("127.0.0.1", cfg.port) is None for cfg in cfgs)


def secured_env(cfgs, **extra: str) -> dict[str, str]:
    """Service environment: the cluster's SASL_SSL listeners, SCRAM user and CA; RF 3, ISR 2."""
    user = local_kafka.read_user(cfgs[0].cluster_root)
    return {
        **client_env(cfgs, password=user.password),
        "NEWSALERT_REPLICATION_FACTOR": "3",
        "NEWSALERT_MIN_INSYNC_REPLICAS": "2",
        "NEWSALERT_ALLOW_PRIVATE_TARGETS": "true",
        "NEWSALERT_DEDUP_WINDOW": "0",
        "NEWSALERT_CONSUMER_SESSION_TIMEOUT": "6",
        "NEWSALERT_MATCHER_COMMIT_INTERVAL": "1",
        # Leadership moves within the broker's 6 s session: the matcher must not call that a stall.
        "NEWSALERT_STALL_TIMEOUT": "120",
        **extra,
    }


def write_articles(path: Path, prefix: str, count: int = ARTICLES) -> set[str]:
    """``count`` generated articles, every EVERY-th naming WORD; the ids of those that match."""
    matching = set()
    with path.open("w", encoding="utf-8") as handle:
        for i in range(count):
            words = ["harbour", "council", "budget", "weather", "league"] * 6
            if i % EVERY == 0:
                words[i % len(words)] = WORD
                matching.add(f"{prefix}{i:04d}")
            handle.write(json.dumps({"id": f"{prefix}{i:04d}", "title": f"Item {i}", "body": " ".join(words), "source": "cluster test"}) + "\n")
    return matching


def write_rules(path: Path, receiver) -> None:
    lines = ["subscribers:"]
    for sid in SUBSCRIBERS:
        lines += [f"  - id: {sid}", f"    url: {receiver.url(sid)}", f"    secret: {SECRET}"]
    lines += ["rules:", f"  - id: {RULE_ID}", f"    query: {WORD}", f"    notify: [{', '.join(SUBSCRIBERS)}]"]
    path.write_text("\n".join(lines) + "\n")


def describe(cfgs, topics: list[str]) -> list[dict]:
    """Partition metadata over the plain listener of a live node (the test's own view)."""
    async def run() -> list[dict]:
        for cfg in cfgs:
            if local_kafka.probe("127.0.0.1", cfg.port, timeout=1.0) is None:
                continue
            admin = AIOKafkaAdminClient(bootstrap_servers=cfg.bootstrap, request_timeout_ms=10000)
            await admin.start()
            try:
                return await admin.describe_topics(topics)
            finally:
                await admin.close()
        raise AssertionError("no node of the cluster answers")
    return asyncio.run(run())


def node_pid(cfg) -> int:
    return local_kafka.read_state(cfg).pid


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _pipeline(cfgs, tmp_path: Path, prefix: str, **extra: str) -> Pipeline:
    return Pipeline(env=secured_env(cfgs, NEWSALERT_TOPIC_PREFIX=prefix, **extra), log_dir=tmp_path / "logs")


def test_a_broker_killed_mid_stream_loses_no_alert_and_rejoins(cluster, receiver, tmp_path):
    prefix = "kill-"
    pipe = _pipeline(cluster, tmp_path, prefix)
    created = pipe.cli("topics", "create")
    assert "x3" in created.stdout
    topics = [f"{prefix}articles", f"{prefix}matches"]
    assert all(len(p["replicas"]) == 3 for t in describe(cluster, topics) for p in t["partitions"])

    articles, rules = tmp_path / "articles.jsonl", tmp_path / "rules.yaml"
    matching = write_articles(articles, "k")
    write_rules(rules, receiver)
    expected = {webhook_id(a, RULE_ID, s) for a in matching for s in SUBSCRIBERS}
    offline = expected_alerts(pipe, rules, articles)  # `newsalert match`, no broker involved
    assert {webhook_id(a, r, s) for (a, r), subs in offline.items() for s in subs} == expected
    matcher = pipe.start("matcher", "--rules", str(rules))
    notifier = pipe.start("notifier", "--rules", str(rules))
    replay = subprocess.Popen([newsalert_executable(), "replay", str(articles), "--rate", str(RATE)],
                              env={**os.environ, **pipe.env}, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: len(receiver.webhook_ids()) > 0, 90, "the first alert")
        time.sleep(KILL_AFTER_S)
        # The coordinator of every consumer group: the leader of __consumer_offsets (1 partition).
        (offsets,) = describe(cluster, ["__consumer_offsets"])
        leader = offsets["partitions"][0]["leader"]
        victim = next(cfg for cfg in cluster if cfg.node_id == leader)
        before = len(receiver.webhook_ids())
        killed_at = time.time()
        os.kill(node_pid(victim), signal.SIGKILL)
        assert replay.poll() is None, "the stream ended before the kill: the test would prove nothing"
        print(f"killed broker {leader} (group coordinator) with {before} of {len(expected)} alerts received")
        out, _ = replay.communicate(timeout=150)
        assert replay.returncode == 0, out
        missing = receiver.wait_for_ids(expected, timeout=120)
        assert matcher.alive() and notifier.alive(), f"a service died:\n{matcher.log_tail(20)}\n{notifier.log_tail(20)}"
    finally:
        if replay.poll() is None:
            replay.kill()
        pipe.stop_all()
    assert not missing, f"{len(missing)} of {len(expected)} alerts never arrived: {sorted(missing)[:5]}"
    counts = receiver.webhook_ids()
    assert set(counts) == expected, f"unexpected alerts: {sorted(set(counts) - expected)[:5]}"
    duplicates = sum(n - 1 for n in counts.values())
    after = sorted(r.at for r in receiver.snapshot() if r.at >= killed_at)
    pause = max((b - a for a, b in zip([killed_at, *after], after)), default=0.0)
    print(f"broker kill: {len(expected)} alerts expected, all delivered, {duplicates} duplicate(s); "
          f"longest pause in deliveries after the kill {pause:.1f} s")

    # The killed broker comes back (same data dir) and catches up into every in-sync replica set.
    killed_pid = node_pid(victim)
    restarted = local_kafka.start_nodes(cluster, purpose="tests")
    assert [r.already_running for r in restarted].count(False) == 1
    assert node_pid(victim) != killed_pid and psutil.pid_exists(node_pid(victim))
    wait_until(lambda: all(len(p["isr"]) == 3 for t in describe(cluster, topics) for p in t["partitions"]),
               90, f"broker {leader} back in every in-sync replica set")


def test_two_brokers_down_stall_the_pipeline_without_losing_an_alert(cluster, receiver, tmp_path):
    """Two of three down also loses the controller quorum (the same three nodes): nothing can be
    written or elected until one is back. The services wait, then finish the stream."""
    prefix = "two-"
    pipe = _pipeline(cluster, tmp_path, prefix)
    pipe.cli("topics", "create")
    articles, rules = tmp_path / "articles.jsonl", tmp_path / "rules.yaml"
    matching = write_articles(articles, "t", count=TWO_DOWN_ARTICLES)
    write_rules(rules, receiver)
    expected = {webhook_id(a, RULE_ID, s) for a in matching for s in SUBSCRIBERS}
    pipe.cli("replay", str(articles))  # all articles written before anything fails
    try:
        matcher = pipe.start("matcher", "--rules", str(rules))
        notifier = pipe.start("notifier", "--rules", str(rules))
        wait_until(lambda: len(receiver.webhook_ids()) > 0, 90, "the first alert")
        victims = cluster[1:]
        for cfg in victims:
            os.kill(node_pid(cfg), signal.SIGKILL)
        before = len(receiver.webhook_ids())
        time.sleep(TWO_DOWN_S)
        during = len(receiver.webhook_ids())
        local_kafka.start_nodes(cluster, purpose="tests")  # both come back; a quorum needs one
        missing = receiver.wait_for_ids(expected, timeout=150)
        assert matcher.alive() and notifier.alive(), f"a service died:\n{matcher.log_tail(20)}\n{notifier.log_tail(20)}"
    finally:
        pipe.stop_all()
    assert not missing, f"{len(missing)} of {len(expected)} alerts never arrived: {sorted(missing)[:5]}"
    counts = receiver.webhook_ids()
    assert set(counts) == expected
    print(f"two brokers down: {before} alerts at the kill, {during} after {TWO_DOWN_S} s down, all {len(expected)} in the end, "
          f"{sum(n - 1 for n in counts.values())} duplicate(s)")


def test_the_whole_pipeline_runs_over_sasl_ssl(cluster, receiver, tmp_path):
    prefix = "sec-"
    pipe = _pipeline(cluster, tmp_path, prefix, NEWSALERT_API_TOKEN="cluster-test-token-0123456789")
    rules = tmp_path / "rules.yaml"
    write_rules(rules, receiver)
    try:
        pipe.start("matcher", "--rules", str(rules))
        pipe.start("notifier", "--rules", str(rules))
        api = pipe.start("api", "--rules", str(rules))
        ingest = pipe.start("ingest")
        # The API is ready once it has read the rules topic over SASL_SSL.
        wait_until(lambda: _status(api.health_url.replace("/healthz", "/readyz")) == 200, 90, "the api to be ready")
        wait_until(lambda: _status(ingest.health_url.replace("/healthz", "/readyz")) == 200, 90, "ingest to be ready")
        body = "\n".join(json.dumps({"id": f"sec-{i}", "title": f"{WORD} sighted", "body": f"A {WORD} at the harbour {i}."}) for i in range(3))
        request = urllib.request.Request(ingest.health_url.replace("/healthz", "/articles"), data=body.encode(),
                                         method="POST", headers={"Content-Type": "application/x-ndjson"})
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.status in (200, 202), response.read()
        expected = {webhook_id(f"sec-{i}", RULE_ID, s) for i in range(3) for s in SUBSCRIBERS}
        assert not receiver.wait_for_ids(expected, timeout=90)
    finally:
        pipe.stop_all()
    password = pipe.env["NEWSALERT_KAFKA_SASL_PASSWORD"]
    for service in pipe.services.values():
        log = service.log_path.read_text(errors="replace")
        assert log.strip(), f"{service.name} logged nothing: the check below would prove nothing"
        assert password not in log, f"{service.name} logged the SASL password"


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def test_kafka_status_covers_every_node(cluster):
    env = {**os.environ, "NEWSALERT_HOME": str(cluster[0].home)}
    result = subprocess.run([newsalert_executable(), "kafka", "status"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [f"node {i}" for i in range(1, NODES + 1)]
    assert all("running: newsalert broker" in line for line in lines), result.stdout


def test_a_wrong_password_ends_the_matcher_with_one_clear_error(cluster, tmp_path, receiver):
    rules = tmp_path / "rules.yaml"
    write_rules(rules, receiver)
    env = {**os.environ, **secured_env(cluster, NEWSALERT_KAFKA_SASL_PASSWORD="not-the-password", NEWSALERT_TOPIC_PREFIX="pw-")}
    result = subprocess.run([newsalert_executable(), "serve", "matcher", "--rules", str(rules), "--port", str(free_port())],
                            env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "refused the login of user 'newsalert'" in result.stderr and "NEWSALERT_KAFKA_SASL_PASSWORD" in result.stderr
    assert "Traceback" not in result.stderr and "not-the-password" not in result.stderr


def test_an_untrusted_ca_fails_with_one_clear_error(cluster, tmp_path):
    other = tmp_path / "other-ca"
    other.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=someone else",
                    "-keyout", str(other / "ca.key"), "-out", str(other / "ca.pem")], check=True, capture_output=True)
    env = {**os.environ, **secured_env(cluster, NEWSALERT_KAFKA_SSL_CAFILE=str(other / "ca.pem"), NEWSALERT_TOPIC_PREFIX="ca-")}
    result = subprocess.run([newsalert_executable(), "topics", "create"], env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    assert "is not trusted by" in result.stderr and "NEWSALERT_KAFKA_SSL_CAFILE" in result.stderr
    assert "Traceback" not in result.stderr
