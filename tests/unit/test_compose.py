"""docker-compose.yml and deploy/Dockerfile, checked without Docker: every service's command is a
real CLI command whose arguments parse, the broker runs in KRaft mode, health and start order are
declared, and the files the containers mount exist."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
import yaml

from newsalert.cli import main

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "deploy" / "Dockerfile"
POM = REPO / "deploy" / "kafka" / "pom.xml"
APP_IMAGE = "newsalert:local"
LONG_RUNNING = ("ingest", "matcher", "notifier", "webhook-sink")


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def _services() -> dict[str, dict]:
    return _compose()["services"]


def _app_services() -> dict[str, dict]:
    return {name: svc for name, svc in _services().items() if svc.get("image") == APP_IMAGE}


def _host_path(service: dict, container_path: str) -> str:
    """The host path behind ``container_path`` through the service's bind mounts."""
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if container_path == target or container_path.startswith(target.rstrip("/") + "/"):
            return str((REPO / source).resolve()) + container_path[len(target):]
    return container_path


def _resolve(args: list[str]) -> tuple[click.Command, click.Context, list[str], list[str]]:
    """Walk the click tree of ``newsalert`` along ``args``: (command, parent context, path, rest)."""
    ctx = click.Context(main, info_name="newsalert")
    command: click.Command = main
    path: list[str] = []
    rest = list(args)
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        name = rest.pop(0)
        try:
            sub = command.get_command(ctx, name)
        except ImportError as exc:
            pytest.fail(f"`newsalert {' '.join([*path, name])}` is registered but cannot be imported: {exc}")
        if sub is None:
            pytest.fail(f"`newsalert {' '.join([*path, name])}` is not a command (available: "
                        f"{', '.join(command.list_commands(ctx))})")
        path.append(name)
        ctx = click.Context(sub, parent=ctx, info_name=name)
        command = sub
    return command, ctx.parent or ctx, path, rest


# --- commands ------------------------------------------------------------------------------------


def test_expected_services_run_the_app_image():
    services = _services()
    for name in (*LONG_RUNNING, "topics", "kafka"):
        assert name in services, f"docker-compose.yml has no {name!r} service"
    assert set(_app_services()) >= {*LONG_RUNNING, "topics"}


@pytest.mark.parametrize(
    ("service", "path"),
    [
        ("topics", ["topics", "create"]),
        ("ingest", ["serve", "ingest"]),
        ("matcher", ["serve", "matcher"]),
        ("notifier", ["serve", "notifier"]),
        ("webhook-sink", ["serve", "webhook-sink"]),
    ],
)
def test_service_runs_the_planned_command(service, path):
    command = _services()[service]["command"]
    assert command[: len(path)] == path


@pytest.mark.parametrize("service", sorted(_app_services()))
def test_every_service_command_exists_and_its_arguments_parse(service):
    spec = _app_services()[service]
    args = [_host_path(spec, arg) if arg.startswith("/") else arg for arg in spec["command"]]
    command, parent, path, rest = _resolve(args)
    assert not isinstance(command, click.Group), f"{service}: `newsalert {' '.join(path)}` is a group, not a command"
    # Parsing validates option names, types and file existence without running anything.
    try:
        command.make_context(path[-1], rest, parent=parent)
    except click.UsageError as exc:
        pytest.fail(f"{service}: `newsalert {' '.join(spec['command'])}` does not parse: {exc.format_message()}")


def test_resolve_fails_for_a_missing_command():
    with pytest.raises(pytest.fail.Exception, match="not a command"):
        _resolve(["serve", "no-such-service"])


# --- broker, health, order -----------------------------------------------------------------------


def test_kafka_is_the_official_image_in_kraft_mode_at_the_local_broker_version():
    kafka = _services()["kafka"]
    image, _, tag = kafka["image"].partition(":")
    assert image == "apache/kafka"
    pom_version = re.search(r"<kafka.version>([^<]+)</kafka.version>", POM.read_text()).group(1)
    assert tag == pom_version, "compose and the local broker should run the same Kafka version"
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == 1
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert "healthcheck" in kafka


@pytest.mark.parametrize("service", sorted(_app_services()))
def test_app_services_reach_the_broker_by_service_name(service):
    assert _app_services()[service]["environment"]["NEWSALERT_KAFKA_BOOTSTRAP"] == "kafka:9092"


@pytest.mark.parametrize("service", LONG_RUNNING)
def test_long_running_services_have_an_http_healthcheck_on_their_port(service):
    spec = _services()[service]
    command = spec["command"]
    port = command[command.index("--port") + 1]
    probe = " ".join(spec["healthcheck"]["test"])
    assert re.search(rf"http://127\.0\.0\.1:{port}/(healthz|readyz)", probe), probe
    assert spec["healthcheck"]["retries"] >= 1


def test_start_order_waits_for_health():
    services = _services()
    for name, spec in _app_services().items():
        for dep, cond in (spec.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown service {dep!r}"
            assert cond["condition"] in {"service_healthy", "service_completed_successfully"}
            if cond["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep}, which has no healthcheck"
    for name in ("topics", "ingest", "matcher", "notifier"):
        assert services[name]["depends_on"]["kafka"]["condition"] == "service_healthy"
    for name in ("ingest", "matcher", "notifier"):
        assert services[name]["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    assert services["topics"]["restart"] == "no"


def test_only_the_notifier_may_reach_private_targets_and_the_risk_is_stated():
    for name, spec in _app_services().items():
        allowed = spec["environment"].get("NEWSALERT_ALLOW_PRIVATE_TARGETS")
        assert (allowed == "true") == (name == "notifier"), name
    assert "DEMO ONLY - RISK" in COMPOSE.read_text()


def test_matcher_and_notifier_can_be_scaled():
    for name in ("matcher", "notifier"):
        spec = _services()[name]
        assert "container_name" not in spec and "ports" not in spec, f"{name} could not run several replicas"
        assert spec["deploy"]["replicas"] >= 1
    assert "--scale matcher=" in COMPOSE.read_text()


# --- mounted files --------------------------------------------------------------------------------


def test_bind_mounts_exist_in_the_repository():
    for name, spec in _app_services().items():
        for volume in spec.get("volumes", []):
            source = volume.split(":")[0]
            assert (REPO / source).exists(), f"{name} mounts {source}, which does not exist"


def test_compose_rule_file_is_the_seed_rule_file_with_the_sink_host():
    seed = (REPO / "seeds" / "rules.yaml").read_text(encoding="utf-8")
    compose = (REPO / "deploy" / "compose" / "rules.yaml").read_text(encoding="utf-8")
    header, _, rest = compose.partition("\n#\n")
    assert header.startswith("# GENERATED"), "deploy/compose/rules.yaml lost its header"
    expected = seed.replace("http://127.0.0.1:8787/", "http://webhook-sink:8787/")
    assert rest == expected, "deploy/compose/rules.yaml is out of date: regenerate it from seeds/rules.yaml"
    assert "127.0.0.1" not in yaml.safe_load(compose)["subscribers"][0]["url"]


# --- Dockerfile -----------------------------------------------------------------------------------


def test_dockerfile_base_entrypoint_and_copied_paths():
    text = DOCKERFILE.read_text(encoding="utf-8")
    froms = re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)
    assert froms and all(f == "python:3.11-slim" for f in froms)
    assert re.search(r'^ENTRYPOINT \["newsalert"\]$', text, re.MULTILINE)
    for source in re.findall(r"^COPY (?!--from)(.+?)\s+\S+$", text, re.MULTILINE):
        for part in source.split():
            assert (REPO / part).exists(), f"Dockerfile copies {part}, which does not exist"
    for name in _app_services():
        build = _services()[name]["build"]
        assert (REPO / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
