"""``newsalert demo``: the whole pipeline on the local broker, end to end, with the seeds.

Steps: start the local Kafka broker (unless one runs), give this run fresh topics (a run-specific
topic prefix), start the webhook sink, ingest, matcher and notifier as child processes with their
logs in ``runs/demo-<time>/``, publish the seeds (``newsalert.shipped``) (the test stream through ``newsalert replay``,
the seed article through ingest's HTTP API), compute the expected alerts offline with
``newsalert match``, wait until every one of them reached the sink, print a summary table, and
stop everything it started, also on Ctrl-C.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import click

from newsalert.adapters.processes import ServiceProcess, free_port, newsalert_executable, port_is_free
from newsalert.domain.delivery.ids import webhook_id
from newsalert.errors import NewsalertError, SetupError
from newsalert.shipped import seed_rules, seeds_dir

SINK_PORT = 8787  # seeds/rules.yaml points its subscribers at http://127.0.0.1:8787/hooks/<id>


@dataclass(frozen=True)
class AlertKey:
    """What identifies one alert: the article, the rule and the subscriber."""

    article_id: str
    rule_id: str
    subscriber: str


@click.command()
@click.option("--rules", "rules_path", default=lambda: str(seed_rules()), show_default="the shipped seeds/rules.yaml", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--seeds", "seeds_dir", default=lambda: str(seeds_dir()), show_default="the shipped seeds/", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait for every expected alert.")
@click.option("--keep-broker", is_flag=True, help="Leave the local broker running when the demo started it.")
def demo(rules_path: Path, seeds_dir: Path, timeout: float, keep_broker: bool) -> None:
    """Run the whole pipeline on the local broker with the seeds and show what reached the webhook."""
    run_dir = Path("runs") / time.strftime("demo-%Y%m%d-%H%M%S")
    run_dir.mkdir(parents=True, exist_ok=True)
    demo_run = _DemoRun(rules_path, seeds_dir, run_dir)
    try:
        ok = demo_run.run(timeout)
    except NewsalertError as exc:
        click.echo(f"demo failed: {exc}", err=True)
        ok = False
    except KeyboardInterrupt:
        click.echo("interrupted: stopping everything the demo started", err=True)
        ok = False
    finally:
        demo_run.stop_all(stop_broker=not keep_broker)
    click.echo(f"logs of every process: {run_dir}/")
    sys.exit(0 if ok else 1)


class _DemoRun:
    def __init__(self, rules_path: Path, seeds_dir: Path, run_dir: Path) -> None:
        self.rules_path = rules_path
        self.seeds_dir = seeds_dir
        self.run_dir = run_dir
        self.cli = newsalert_executable()
        self.prefix = f"demo-{time.strftime('%Y%m%d%H%M%S')}-"
        # The demo checks every delivered alert against `newsalert match`, which judges each article
        # on its own; story de-duplication would suppress some of those on purpose, so it
        # is off here (tests/e2e/test_dedup.py shows it working). Loopback webhooks are allowed
        # because the demo's receiver runs on 127.0.0.1.
        self.env = {
            "NEWSALERT_TOPIC_PREFIX": self.prefix,
            "NEWSALERT_ALLOW_PRIVATE_TARGETS": "true",
            "NEWSALERT_DEDUP_WINDOW": "0",
        }
        self.record = run_dir / "received.jsonl"
        self.services: list[ServiceProcess] = []
        self.started_broker = False
        self.ports = {"webhook-sink": SINK_PORT, "ingest": free_port(), "matcher": free_port(), "notifier": free_port()}

    # -- orchestration ----------------------------------------------------------------------------
    def run(self, timeout: float) -> bool:
        self._start_broker()
        self._run_cli("topics", "create")
        self._start_services()
        expected = self._expected_alerts()
        click.echo(f"expected alerts (offline `newsalert match`): {len(expected)}")
        self._publish_seeds()
        received = self._wait_for(expected, timeout)
        self._print_summary(expected, received)
        return expected <= set(received)

    def _start_broker(self) -> None:
        status = subprocess.run([self.cli, "kafka", "status"], capture_output=True, text=True)
        self.started_broker = "not running" in (status.stdout + status.stderr).lower()
        click.echo("starting the local Kafka broker ..." if self.started_broker else "using the running Kafka broker")
        self._run_cli("kafka", "start")

    def _start_services(self) -> None:
        if not port_is_free(SINK_PORT):
            raise SetupError(f"port {SINK_PORT} (the demo webhook sink, named in {self.rules_path}) is already in use")
        rules = str(self.rules_path)
        commands = {
            "webhook-sink": ["serve", "webhook-sink", "--rules", rules, "--record", str(self.record)],
            "ingest": ["serve", "ingest"],
            "matcher": ["serve", "matcher", "--rules", rules],
            "notifier": ["serve", "notifier", "--rules", rules],
        }
        for name, args in commands.items():
            port = self.ports[name]
            service = ServiceProcess(
                name, [self.cli, *args, "--port", str(port)], self.run_dir / f"{name}.log",
                env=self.env, health_url=f"http://127.0.0.1:{port}/healthz",
            )
            self.services.append(service.start())
            click.echo(f"started {name:13} pid {service.pid:<7} port {port:<6} log {service.log_path}")
        for service in self.services:
            service.wait_healthy(timeout=90)
        click.echo("all services healthy")

    def _expected_alerts(self) -> set[AlertKey]:
        """What ``newsalert match`` computes offline for the same rules and articles."""
        output = self._run_cli("match", "--rules", str(self.rules_path), str(self.seeds_dir), check_codes=(0, 1))
        subscribers_of: dict[tuple[str, str], list[str]] = {}
        for line in output.splitlines():
            item = json.loads(line)
            subscribers_of[(item["article_id"], item["rule_id"])] = item["notify"]
        return {AlertKey(a, r, s) for (a, r), subs in subscribers_of.items() for s in subs}

    def _publish_seeds(self) -> None:
        """The converted seed articles through ingest's HTTP API, the rest with ``newsalert replay``."""
        for path in sorted((self.seeds_dir / "articles").glob("*.json")):
            request = urllib.request.Request(
                f"http://127.0.0.1:{self.ports['ingest']}/articles", data=path.read_bytes(),
                headers={"Content-Type": "application/json"}, method="POST",
            )
            with urllib.request.urlopen(request, timeout=30) as response:
                click.echo(f"POST /articles {path.name}: {response.status} {response.read().decode()}")
        others = [str(p) for p in sorted(self.seeds_dir.glob("*.jsonl"))]
        self._run_cli("replay", *others, check_codes=(0, 1), echo=True)

    def _wait_for(self, expected: set[AlertKey], timeout: float) -> list[AlertKey]:
        """Wait until every expected alert reached the sink, echoing each one as it arrives."""
        deadline = time.monotonic() + timeout
        received: list[AlertKey] = []
        sink_log = self.run_dir / "webhook-sink.log"
        shown = 0
        while time.monotonic() < deadline:
            shown = self._echo_new_alerts(sink_log, shown)
            received = self._received(expected)
            if expected <= set(received):
                break
            for service in self.services:
                if not service.alive():
                    raise SetupError(f"{service.name} exited unexpectedly:\n{service.log_tail()}")
            time.sleep(0.5)
        self._echo_new_alerts(sink_log, shown)
        return received

    @staticmethod
    def _echo_new_alerts(sink_log: Path, shown: int) -> int:
        """Print the sink's new ``alert -> ...`` lines (subscriber, rule, title, terms); return how
        many lines of the log have been looked at."""
        if not sink_log.exists():
            return shown
        text = sink_log.read_text(errors="replace")
        lines = text.splitlines()
        if text and not text.endswith("\n"):
            lines = lines[:-1]  # a line still being written is shown next time, whole
        for line in lines[shown:]:
            if line.startswith(("alert ->", "chat  ->")):
                click.echo(line)
        return len(lines)

    def _received(self, expected: set[AlertKey]) -> list[AlertKey]:
        """The alerts the sink recorded; a chat message (no payload) is known by its webhook id."""
        if not self.record.exists():
            return []
        by_id = {webhook_id(k.article_id, k.rule_id, k.subscriber): k for k in expected}
        keys = []
        for line in self.record.read_text().splitlines():
            item = json.loads(line)
            payload = item.get("payload")
            if payload is not None:
                keys.append(AlertKey(payload["article"]["id"], payload["rule"]["id"], payload["subscriber"]))
            else:
                keys.append(by_id.get(item["webhook_id"], AlertKey(item["webhook_id"], "(chat)", item["subscriber"])))
        return keys

    def _print_summary(self, expected: set[AlertKey], received: list[AlertKey]) -> None:
        from rich.console import Console
        from rich.table import Table

        distinct = set(received)
        table = Table(title="newsalert demo: alerts per rule")
        for column in ("rule", "expected", "delivered", "missing", "duplicates"):
            table.add_column(column, justify="right" if column != "rule" else "left")
        per_rule_expected = Counter(k.rule_id for k in expected)
        per_rule_received = Counter(k.rule_id for k in distinct)
        per_rule_dupes = Counter(k.rule_id for k, n in Counter(received).items() for _ in range(n - 1))
        for rule in sorted(set(per_rule_expected) | set(per_rule_received)):
            missing = len({k for k in expected - distinct if k.rule_id == rule})
            table.add_row(rule, str(per_rule_expected[rule]), str(per_rule_received[rule]), str(missing), str(per_rule_dupes[rule]))
        console = Console()
        console.print(table)
        articles = len({k.article_id for k in expected})
        console.print(
            f"articles with alerts: {articles}   expected alerts: {len(expected)}   delivered: {len(distinct & expected)}"
            f"   missing: {len(expected - distinct)}   unexpected: {len(distinct - expected)}   duplicates: {len(received) - len(distinct)}"
        )

    # -- helpers ----------------------------------------------------------------------------------
    def _run_cli(self, *args: str, check_codes: tuple[int, ...] = (0,), echo: bool = False) -> str:
        env = {**os.environ, **self.env}
        result = subprocess.run([self.cli, *args], capture_output=True, text=True, env=env)
        log = self.run_dir / "commands.log"
        with log.open("a") as handle:
            handle.write(f"$ newsalert {' '.join(args)}\n{result.stdout}{result.stderr}\n")
        if echo:
            click.echo((result.stdout + result.stderr).strip())
        if result.returncode not in check_codes:
            raise SetupError(f"`newsalert {' '.join(args)}` exited {result.returncode}:\n{result.stderr.strip()}")
        return result.stdout

    def stop_all(self, stop_broker: bool) -> None:
        for service in reversed(self.services):
            service.stop()
        if self.started_broker and stop_broker:
            subprocess.run([self.cli, "kafka", "stop"], capture_output=True)
            click.echo("stopped the local Kafka broker the demo started")
