"""The topic catalogue and its idempotent creation.

Every topic newsalert reads or writes is listed here once, with its partition count and config.
Topics are created explicitly (``newsalert topics create``, and by every service at start); the
local broker runs with auto-creation off so a typo in a topic name fails instead of creating it.
Every topic gets the configured replication factor and ``min.insync.replicas``
(``NEWSALERT_REPLICATION_FACTOR``, ``NEWSALERT_MIN_INSYNC_REPLICAS``); topics that exist already
are left as they are (``topic_drift`` reports how they differ).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from aiokafka.admin import NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError

from newsalert.adapters import kafka_clients
from newsalert.config import Settings
from newsalert.errors import SetupError, TransientError

log = logging.getLogger(__name__)

# Kafka's error code for "topic already exists": creation is idempotent, so this is success.
_TOPIC_ALREADY_EXISTS = 36
_INVALID_REPLICATION_FACTOR = 38


@dataclass(frozen=True)
class TopicSpec:
    """A logical topic: its name without the prefix, partitions and topic-level config."""

    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)
    purpose: str = ""


def catalogue(settings: Settings) -> list[TopicSpec]:
    """Every topic of the service, with partition counts taken from the settings."""
    return [
        TopicSpec("articles", settings.articles_partitions, purpose="incoming articles, key = article id"),
        TopicSpec("matches", settings.matches_partitions, purpose="one alert per (article, rule, subscriber), key = subscriber id"),
        TopicSpec("articles.rejected", 1, purpose="dead letters of ingest and matcher, with the reason"),
        TopicSpec("matches.rejected", 1, purpose="dead letters of the notifier (malformed alerts)"),
        # De-duplication claims of the notifier (services/notifier/claims.py): partition N holds the
        # claims of the alerts of matches partition N, so whoever owns that partition reads them back.
        TopicSpec(
            "matches.claims", settings.matches_partitions, config={"cleanup.policy": "compact"},
            purpose="de-duplication claims of delivered stories (StoryClaim), key = webhook id, partition = the alert's",
        ),
        # One partition: every reader sees one order of rule-set snapshots and subscriptions.
        TopicSpec(
            "rules", 1, config={"cleanup.policy": "compact", "max.message.bytes": str(settings.rules_feed_max_bytes)},
            purpose="live rule set (key ruleset) and API subscriptions (key subscription/<id>), see newsalert.schemas.rules_feed",
        ),
        # One record per feed (key = feed id): the ids of its entries already published.
        TopicSpec(
            "feeds.seen", 1, config={"cleanup.policy": "compact"},
            purpose="entries of each feed already published (SeenEntries), key = feed id",
        ),
        *delivery_topics(settings),
    ]


RETRY_TOPIC_PREFIX = "deliveries.retry."
"""Logical name prefix of the retry topics: ``deliveries.retry.<tier>s``, one per retry delay tier."""


def retry_topic(tier: float) -> str:
    """Logical name of the retry topic of ``tier`` seconds (``deliveries.retry.5s``)."""
    from newsalert.domain.delivery.retry import tier_name

    return f"{RETRY_TOPIC_PREFIX}{tier_name(tier)}"


def delivery_topics(settings: Settings) -> list[TopicSpec]:
    """The notifier's topics: retry tiers of the configured schedule, attempts, dead letters, state."""
    policy = settings.retry_policy()
    keyed = "key = subscriber id"
    return [
        *(
            TopicSpec(retry_topic(tier), settings.matches_partitions, purpose=f"alerts waiting ~{tier:g} s for their next attempt, {keyed}")
            for tier in policy.tiers()
        ),
        TopicSpec("deliveries.attempts", settings.matches_partitions, purpose=f"every delivery attempt (DeliveryAttempt), {keyed}"),
        TopicSpec("deliveries.dead", settings.matches_partitions, purpose=f"alerts given up on (DeadDelivery), {keyed}"),
        TopicSpec(
            "deliveries.subscribers", 1, config={"cleanup.policy": "compact"},
            purpose="subscribers disabled by a 410 or enabled again (SubscriberState), key = subscriber id",
        ),
    ]


def topic_config(settings: Settings, spec: TopicSpec) -> dict[str, str]:
    """The topic-level config ``spec`` is created with: its own plus ``min.insync.replicas``."""
    return {"min.insync.replicas": str(settings.min_insync_replicas), **spec.config}


def topic_names(settings: Settings) -> dict[str, str]:
    """Logical name -> full topic name behind the prefix."""
    return {spec.name: settings.topic(spec.name) for spec in catalogue(settings)}


async def ensure_topics(settings: Settings, specs: list[TopicSpec] | None = None) -> list[str]:
    """Create the topics that do not exist yet; return the full names of those created.

    Raises ``TransientError`` when the broker cannot be reached, ``SetupError`` when it refuses
    a topic for another reason (bad config, partitions above the broker's limit, ...).
    """
    specs = catalogue(settings) if specs is None else specs
    admin = await start_admin(settings)
    try:
        existing = set(await admin.list_topics())
        wanted = [s for s in specs if settings.topic(s.name) not in existing]
        if not wanted:
            return []
        new = [
            NewTopic(settings.topic(s.name), s.partitions, settings.replication_factor, topic_configs=topic_config(settings, s))
            for s in wanted
        ]
        response = await admin.create_topics(new, timeout_ms=15000)
        return _check_created(response)
    except KafkaError as exc:
        raise TransientError(f"creating topics on {settings.kafka_bootstrap} failed: {exc}") from exc
    finally:
        await admin.close()


async def start_admin(settings: Settings):
    """A started admin client; ``SetupError`` naming the setting when the brokers refuse our
    credentials or certificate, ``TransientError`` when they do not answer."""
    admin = kafka_clients.admin(settings, request_timeout_ms=15000)
    try:
        await admin.start()
    except KafkaConnectionError as exc:
        await admin.close()
        problem = await kafka_clients.diagnose(settings)
        if problem is not None:
            raise problem from None
        raise TransientError(f"Kafka at {settings.kafka_bootstrap} is not reachable ({settings.kafka_security_protocol}): {exc}") from exc
    return admin


def _check_created(response) -> list[str]:
    """Names created by a CreateTopics response; raise on any error but 'already exists'."""
    created: list[str] = []
    for item in response.topic_errors:
        name, code = item[0], item[1]
        message = item[2] if len(item) > 2 else ""
        if code == 0:
            created.append(name)
            log.info("created topic %s", name)
        elif code == _INVALID_REPLICATION_FACTOR:
            raise SetupError(
                f"the broker refused to create topic {name!r}: {message or 'invalid replication factor'}; "
                f"NEWSALERT_REPLICATION_FACTOR must not exceed the number of brokers"
            )
        elif code != _TOPIC_ALREADY_EXISTS:
            raise SetupError(f"the broker refused to create topic {name!r}: error {code} {message or ''}".rstrip())
    return created
