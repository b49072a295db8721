"""A broker outage costs the services almost nothing: with thousands of alerts in flight and
queued, the broker (a private one: own NEWSALERT_HOME and ports, never the shared broker) is
stopped; over 12 s of the outage (from 6 s after the stop) every service process (matcher, notifier, ingest, api) uses
under 5 % of a core, measured as its own CPU time with psutil; each logs one warning when the
broker goes, summaries while it stays away and one line when it is back (not a line per retry);
after the restart every expected alert arrives.
"""

from __future__ import annotations

import json
import time
import urllib.request

import psutil
import pytest

from newsalert.adapters import local_kafka
from newsalert.domain.delivery.ids import webhook_id

from .conftest import Pipeline
from .test_process_faults import RULE_ID, SlowReceiver, private_broker, serving, wait_until, write_articles, write_rules  # noqa: F401

pytestmark = [pytest.mark.kafka]

SUBSCRIBERS = [f"s{i}" for i in range(8)]
SECRET = "whsec_MfKQ9r8GKYqrTZjUIPZkMzPE7ke1SkNm"
ARTICLES = 1000  # x 8 subscribers: 8,000 alerts
SETTLE_S = 6.0
MEASURED_S = 12.0
CPU_LIMIT = 0.05  # of one core
SUMMARY_S = 4.0  # the test's summary interval, so the outage sees some summaries


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def consumed(matcher) -> int:
    with urllib.request.urlopen(matcher.health_url, timeout=5) as response:
        return json.loads(response.read())["consumed"]


@pytest.mark.timeout(480)
def test_services_idle_while_the_broker_is_down(private_broker, topic_prefix, tmp_path):  # noqa: F811
    cfg = private_broker
    pipe = Pipeline(env={
        "NEWSALERT_KAFKA_BOOTSTRAP": cfg.bootstrap,
        "NEWSALERT_TOPIC_PREFIX": topic_prefix,
        "NEWSALERT_ALLOW_PRIVATE_TARGETS": "true",
        "NEWSALERT_HOME": str(cfg.home),
        "NEWSALERT_DEDUP_WINDOW": "0",
        "NEWSALERT_API_TOKEN": "outage-test-token",
        "NEWSALERT_OUTAGE_SUMMARY_INTERVAL": str(SUMMARY_S),
    }, log_dir=tmp_path / "logs")
    with serving(SlowReceiver()) as rec:
        # Eight lanes at ~50 requests/s each: the 8,000 alerts take far longer than the wait for
        # the first 500, so most are in flight or queued when the broker stops.
        rec.delay = 0.02
        rules = write_rules(tmp_path / "rules.yaml", rec, SUBSCRIBERS, {sid: SECRET for sid in SUBSCRIBERS})
        articles = tmp_path / "articles.jsonl"
        expected = {webhook_id(a, RULE_ID, s) for a in write_articles(articles, "outage", ARTICLES) for s in SUBSCRIBERS}
        try:
            pipe.cli("topics", "create")
            matcher = pipe.start("matcher", "--rules", str(rules))
            pipe.start("notifier", "--rules", str(rules))
            pipe.start("ingest")
            pipe.start("api", "--rules", str(rules))
            pipe.cli("replay", str(articles))
            wait_until(lambda: len(rec.webhook_ids()) >= 500, 180, "the first 500 alerts", step=0.1)
            at_stop = len(rec.webhook_ids()), consumed(matcher)

            log_sizes = {name: svc.log_path.stat().st_size for name, svc in pipe.services.items()}
            stopped = local_kafka.stop(cfg, timeout=30)
            assert stopped.stopped, stopped.message
            processes = {name: psutil.Process(svc.pid) for name, svc in pipe.services.items()}
            # Not measured: the stop itself (failing requests, rebalances), and the first seconds in
            # which the notifier goes on delivering the alerts it had already fetched (useful work:
            # their attempt records wait in the producer).
            time.sleep(SETTLE_S)
            before = {name: cpu_seconds(p) for name, p in processes.items()}
            began = time.monotonic()
            time.sleep(MEASURED_S)
            elapsed = time.monotonic() - began
            share = {name: (cpu_seconds(p) - before[name]) / elapsed for name, p in processes.items()}
            alive = {name: svc.alive() for name, svc in pipe.services.items()}
            restart_sizes = {name: svc.log_path.stat().st_size for name, svc in pipe.services.items()}
            local_kafka.start(cfg, purpose="tests")

            print(f"\nbroker stopped with {at_stop[0]} of {len(expected)} alerts delivered, {at_stop[1]} of "
                  f"{ARTICLES} articles matched; CPU over {elapsed:.1f} s of outage: "
                  + ", ".join(f"{name} {100 * value:.1f} %" for name, value in share.items()))
            assert all(alive.values()), alive
            assert at_stop[0] < len(expected), "every alert arrived before the stop: nothing was in flight"
            over = {name: value for name, value in share.items() if value >= CPU_LIMIT}
            assert not over, f"services above {100 * CPU_LIMIT:.0f} % of a core while the broker was down: {over}"

            missing = rec.wait_for_ids(expected, timeout=240)
            assert not missing, f"{len(missing)} of {len(expected)} alerts never arrived after the restart"
            assert not set(rec.webhook_ids()) - expected
        finally:
            pipe.stop_all()
            for service in pipe.services.values():
                print(f"--- {service.name} log tail ---\n{service.log_tail(10)}")

    for name, service in pipe.services.items():
        text = service.log_path.read_bytes()
        outage_log = text[log_sizes[name]:restart_sizes[name]].decode(errors="replace").splitlines()
        after_log = text[restart_sizes[name]:].decode(errors="replace").splitlines()
        went = [line for line in outage_log if "Kafka broker unreachable" in line]
        # One line when the broker went, whatever the number of retries, and one when it is back;
        # a process that did not talk to the broker during the outage may have noticed nothing.
        assert len(went) <= 1, f"{name}: {went}"
        if went:
            assert any("Kafka broker reachable again" in line for line in after_log), f"{name} never said the broker was back"
        if name in ("matcher", "notifier"):
            assert went, f"{name} logged nothing about the outage"
            assert any("still unreachable" in line for line in outage_log), f"{name} logged no summary"
        retry_lines = [line for line in outage_log if "aiokafka" in line or "retrying" in line]
        assert len(retry_lines) < 30, f"{name} logged {len(retry_lines)} retry lines:\n" + "\n".join(retry_lines[-10:])
