"""Prometheus metrics of the feeds service, per feed (its own registry: tests run several)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge


@dataclass
class FeedMetrics:
    """Last success, entries published, errors by kind, last HTTP status, full-text failures."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.last_success = Gauge("newsalert_feed_last_success_timestamp_seconds", "When the feed was last fetched and handled without error.", ["feed"], registry=r)
        self.published = Counter("newsalert_feed_entries_published", "New entries published to the articles topic.", ["feed"], registry=r)
        self.errors = Counter("newsalert_feed_errors", "Failed polls by kind (timeout, network, blocked, redirects, too_large, http_status, retry_after, parse, broker).", ["feed", "kind"], registry=r)
        self.last_status = Gauge("newsalert_feed_last_http_status", "HTTP status of the feed's last answer (0: none).", ["feed"], registry=r)
        self.not_modified = Counter("newsalert_feed_not_modified", "Polls answered 304 Not Modified.", ["feed"], registry=r)
        self.warnings = Counter("newsalert_feed_parse_warnings", "Documents parsed with a problem (malformed XML); what parsed was published.", ["feed"], registry=r)
        self.invalid = Counter("newsalert_feed_entries_invalid", "Entries not published: no guid or link, or not a valid article.", ["feed"], registry=r)
        self.full_text_failures = Counter("newsalert_feed_full_text_failures", "Entries whose page could not be fetched or extracted (the summary was used).", ["feed"], registry=r)
