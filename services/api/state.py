"""What the API's handlers share: settings, the broker clients, the subscriptions, metrics."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Callable

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge

from newsalert.config import Settings
from newsalert.domain.rulefile import RuleSet
from newsalert.services.api.bodies import Refused
from newsalert.services.api.store import FeedView, SubscriptionStore


@dataclass
class Metrics:
    """Prometheus metrics of one application (its own registry: tests run several apps)."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.requests = Counter("newsalert_api_requests", "Answers by route and status.", ["route", "status"], registry=self.registry)
        self.verifications = Counter(
            "newsalert_api_verifications", "Intent verifications by result (verified or not).", ["result"], registry=self.registry
        )
        self.subscriptions = Gauge("newsalert_api_subscriptions", "Stored subscriptions by status.", ["status"], registry=self.registry)


@dataclass
class ApiState:
    """Shared by the handlers. ``view`` is None until the rules topic has been read."""

    settings: Settings
    rules: RuleSet | None
    publisher_factory: Callable[[], Any]
    connector_factory: Callable[[], aiohttp.BaseConnector]
    metrics: Metrics = field(default_factory=Metrics)
    view: FeedView | None = None
    store: SubscriptionStore | None = None
    publisher: Any = None
    session: aiohttp.ClientSession | None = None
    problem: str = "connecting to the broker"
    connect_task: asyncio.Task | None = None
    # Serialises changes, so that each subscription's revisions are written in order.
    write_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def ready_view(self) -> FeedView:
        """The subscriptions, or ``Refused(503)`` while the rules topic has not been read yet."""
        if self.view is None or self.store is None:
            raise Refused(503, f"not ready: {self.problem}; retry later", headers={"Retry-After": "5"})
        return self.view

    def known_rule_ids(self) -> set[str]:
        """Rule ids a subscription may follow: the ``--rules`` file's, else the newest snapshot's."""
        if self.rules is not None:
            return {rule.id for rule in self.rules.rules}
        snapshot = self.view.snapshot if self.view else None
        return {rule.id for rule in snapshot.rules} if snapshot else set()

    def yaml_subscriber_ids(self) -> set[str]:
        """Subscriber ids of the rule file (a subscription must not take one of them)."""
        if self.rules is not None:
            return set(self.rules.subscribers)
        snapshot = self.view.snapshot if self.view else None
        return {s.id for s in snapshot.subscribers} if snapshot else set()

    def count(self) -> None:
        """Refresh the subscriptions gauge."""
        subs = self.view.subscriptions.values() if self.view else ()
        for status in ("pending", "active"):
            self.metrics.subscriptions.labels(status).set(sum(1 for s in subs if s.status == status))


STATE = web.AppKey("api_state", ApiState)
