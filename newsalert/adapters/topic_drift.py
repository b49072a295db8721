"""How the topics on the broker differ from what the settings would create.

Creation never changes an existing topic, so a deployment that raises its replication factor or
partition counts later must be told which topics still have the old layout, and how to change
them: Kafka can add partitions but never remove any, and it changes replication only by
reassigning partitions, not in place.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from newsalert.adapters.topics import TopicSpec, catalogue, start_admin, topic_config
from newsalert.config import Settings
from newsalert.errors import TransientError


@dataclass(frozen=True)
class Drift:
    """One setting of one existing topic that is not what the settings ask for."""

    topic: str
    what: str  # "partitions", "replication factor" or a topic config name
    actual: str
    wanted: str

    def advice(self) -> str:
        """What an operator can do about it (newsalert changes nothing itself)."""
        if self.what == "partitions":
            if int(self.actual) > int(self.wanted):
                return "Kafka cannot remove partitions: keep them (more consumers may join) or recreate the topic under a new NEWSALERT_TOPIC_PREFIX"
            return (f"raise with kafka-topics.sh --alter --topic {self.topic} --partitions {self.wanted} "
                    "(keys then map to other partitions: per-key order holds only for new records)")
        if self.what == "replication factor":
            return "not changeable in place: reassign the partitions with kafka-reassign-partitions.sh, or recreate the topic"
        return f"kafka-configs.sh --alter --entity-type topics --entity-name {self.topic} --add-config {self.what}={self.wanted}"

    def render(self) -> str:
        return f"{self.topic}: {self.what} is {self.actual}, configured {self.wanted}; {self.advice()}"


def compare(spec_name: str, wanted_partitions: int, wanted_replicas: int, wanted_config: dict[str, str],
            described: dict, configs: dict[str, str]) -> list[Drift]:
    """Differences between one topic as described by the broker and as it would be created."""
    partitions = described.get("partitions") or []
    found: list[Drift] = []
    if len(partitions) != wanted_partitions:
        found.append(Drift(spec_name, "partitions", str(len(partitions)), str(wanted_partitions)))
    replicas = min((len(p.get("replicas") or []) for p in partitions), default=0)
    if partitions and replicas != wanted_replicas:
        found.append(Drift(spec_name, "replication factor", str(replicas), str(wanted_replicas)))
    for key, value in wanted_config.items():
        if configs.get(key) is not None and configs[key] != value:
            found.append(Drift(spec_name, key, configs[key], value))
    return found


async def topic_drift(settings: Settings, specs: list[TopicSpec] | None = None) -> list[Drift]:
    """Every difference between the existing topics of the catalogue and the settings."""
    specs = catalogue(settings) if specs is None else specs
    admin = await start_admin(settings)
    try:
        existing = set(await admin.list_topics())
        present = [s for s in specs if settings.topic(s.name) in existing]
        if not present:
            return []
        names = [settings.topic(s.name) for s in present]
        described = {d["topic"]: d for d in await admin.describe_topics(names)}
        configs = await _configs(admin, names, {k for s in present for k in topic_config(settings, s)})
    except KafkaError as exc:
        raise TransientError(f"describing topics on {settings.kafka_bootstrap} failed: {exc}") from exc
    finally:
        await admin.close()
    found: list[Drift] = []
    for spec, name in zip(present, names):
        found += compare(name, spec.partitions, settings.replication_factor, topic_config(settings, spec),
                         described.get(name, {}), configs.get(name, {}))
    return found


async def _configs(admin, names: list[str], keys: set[str]) -> dict[str, dict[str, str]]:
    """topic -> {config name: value} for ``keys``."""
    resources = [ConfigResource(ConfigResourceType.TOPIC, name, {key: None for key in keys}) for name in names]
    result: dict[str, dict[str, str]] = {}
    for response in await admin.describe_configs(resources):
        for resource in response.to_object()["resources"]:
            entries = resource["config_entries"]
            result[resource["resource_name"]] = {e["config_names"]: e["config_value"] for e in entries}
    return result
