"""Every setting of newsalert, read from ``NEWSALERT_*`` environment variables (pydantic-settings).

Defaults are chosen for a single machine running the local broker. A setting that creates a risk
says so in its description. Services read settings once, in their wiring function; nothing here
connects to anything.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """All ``NEWSALERT_*`` settings; the field name upper-cased is the variable's suffix."""

    # Errors never echo the input: it may hold a password or token.
    model_config = SettingsConfigDict(env_prefix="NEWSALERT_", extra="ignore", hide_input_in_errors=True)

    # --- broker -------------------------------------------------------------------------------
    kafka_bootstrap: str = Field(
        "127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated host:port."
    )
    topic_prefix: str = Field(
        "",
        description="Prefix of every topic and consumer-group name, so several deployments or test "
        "runs can share one broker.",
    )
    articles_partitions: int = Field(4, ge=1, description="Partitions of the articles topic (the unit of matcher parallelism).")
    matches_partitions: int = Field(4, ge=1, description="Partitions of the matches topic (the unit of notifier parallelism).")
    kafka_request_timeout_ms: int = Field(
        30000, ge=1000, description="How long a produce or admin request may wait for the broker."
    )
    replication_factor: int = Field(
        1,
        ge=1,
        description="Replicas of every topic newsalert creates (and of faust's, should it create "
        "any). 1 suits the local single broker; a cluster should use 3, so a broker can die "
        "without losing a partition. Existing topics are not changed (see `newsalert topics create`).",
    )
    min_insync_replicas: int = Field(
        1,
        ge=1,
        description="min.insync.replicas of every topic newsalert creates: with the producers' "
        "acks=all, a write succeeds only once this many replicas have it. 2 with a replication "
        "factor of 3 survives one broker loss without losing an acknowledged record; at most the "
        "replication factor.",
    )

    # --- broker connection security (every Kafka client, through adapters/kafka_clients.py) ------
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT",
        description="How every client talks to the brokers: PLAINTEXT, SSL (TLS), SASL_PLAINTEXT or "
        "SASL_SSL (TLS plus a user name and password; what managed services require). "
        "SASL_PLAINTEXT sends the password readably unless the mechanism is SCRAM.",
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "PLAIN", description="SASL mechanism for SASL_PLAINTEXT / SASL_SSL: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512."
    )
    kafka_sasl_username: str = Field("", description="SASL user name (SASL_PLAINTEXT / SASL_SSL).")
    kafka_sasl_password: SecretStr | None = Field(
        None, description="SASL password (a secret: never logged or shown by newsalert)."
    )
    kafka_ssl_cafile: Path | None = Field(
        None,
        description="PEM file of the certificate authorities trusted for the brokers' certificates "
        "(SSL / SASL_SSL); unset = the system's trust store (enough for most managed services).",
    )
    kafka_ssl_certfile: Path | None = Field(
        None, description="PEM client certificate, for brokers that require mutual TLS (with NEWSALERT_KAFKA_SSL_KEYFILE)."
    )
    kafka_ssl_keyfile: Path | None = Field(None, description="PEM private key of the client certificate.")
    kafka_ssl_key_password: SecretStr | None = Field(
        None, description="Password of an encrypted NEWSALERT_KAFKA_SSL_KEYFILE (a secret)."
    )
    kafka_ssl_check_hostname: bool = Field(
        True,
        description="RISK when false: the broker's certificate is still checked against the CA, but "
        "not against the host name connected to, so anyone holding a certificate from that CA can "
        "pose as the broker.",
    )

    broker_backoff_first: float = Field(
        0.5, gt=0, description="Seconds every Kafka client and publish-retry loop waits after the first failure to "
        "reach the broker; doubled per further failure up to NEWSALERT_BROKER_BACKOFF_MAX."
    )
    broker_backoff_max: float = Field(
        5.0, gt=0, description="Longest wait in seconds between two tries to reach the broker (the most a service "
        "can be late to notice that the broker is back). Longer costs less CPU during an outage."
    )
    backoff_jitter: float = Field(
        0.5, ge=0, lt=1, description="Each backoff wait is multiplied by a random factor in [1 - jitter, 1], so "
        "clients failing together do not retry together."
    )
    outage_summary_interval: float = Field(
        60.0, gt=0, description="Seconds between the summary lines a service logs while a dependency (the broker, "
        "a webhook endpoint) stays unreachable; one line is logged when it goes and one when it is back."
    )

    # --- local broker (``newsalert kafka``) ---------------------------------------------------
    kafka_version: str = Field("", description="Apache Kafka version for the local broker; empty = the POM's default.")
    kafka_port: int = Field(9092, description="Client port of the local broker (127.0.0.1 only).")
    kafka_controller_port: int = Field(9093, description="KRaft controller port of the local broker.")
    home: Path = Field(
        Path.home() / ".cache" / "newsalert",
        description="Where the local broker's jars, data and logs live (outside the repository).",
    )
    kafka_jars: Path = Field(
        Path.home() / ".cache" / "newsalert" / "kafka-jars",
        description="Cache of the local broker's jars, one folder per Kafka version; kept apart from "
        "home so that brokers with another home (tests) reuse it instead of downloading again.",
    )
    kafka_start_timeout: float = Field(
        60.0, gt=0, description="Seconds `newsalert kafka start` waits for the broker to answer a metadata request."
    )

    # --- ingest (``newsalert serve ingest``) -------------------------------------------------
    ingest_max_body_bytes: int = Field(
        5 * 1024 * 1024,
        ge=1024,
        description="Largest POST /articles body in bytes (default 5 MiB); a larger body is refused "
        "with 413, never truncated. Raising it raises the memory one request may hold.",
    )
    ingest_max_batch: int = Field(
        1000, ge=1, description="Most articles in one POST /articles (default 1,000); more is refused with 413."
    )
    ingest_ready_timeout_s: float = Field(
        1.0, gt=0, description="How long /readyz (and the pre-publish check) waits for the broker's metadata answer."
    )
    ingest_ready_cache_s: float = Field(
        2.0, ge=0, le=2.0, description="How long a broker readiness answer is reused (at most 2 s)."
    )

    # --- subscription API (``newsalert serve api``) -------------------------------------------
    api_token: SecretStr | None = Field(
        None,
        description="Bearer token that every request to /subscriptions and /rules must carry "
        "(Authorization: Bearer TOKEN). Without it the API refuses to start, unless "
        "NEWSALERT_API_ALLOW_NO_TOKEN is true.",
    )
    api_allow_no_token: bool = Field(
        False,
        description="RISK: lets the subscription API start without NEWSALERT_API_TOKEN and then "
        "serve every request unauthenticated, so anyone who reaches the port can register "
        "webhooks (and read which exist). For local development only.",
    )
    api_challenge_timeout: float = Field(
        5.0,
        gt=0,
        le=60,
        description="Seconds the intent-verification challenge POST may take in all (connect, send, "
        "answer); a webhook that has not echoed the challenge by then stays pending.",
    )
    api_max_body_bytes: int = Field(
        1024 * 1024, ge=1024, description="Largest request body the subscription API reads (default 1 MiB); more is refused with 413."
    )

    # --- feeds (``newsalert serve feeds``) ----------------------------------------------------
    feeds_timeout: float = Field(
        20.0, gt=0, description="Feeds: seconds one fetch (feed document or full-text page) may take in all."
    )
    feeds_max_bytes: int = Field(
        10 * 1024 * 1024,
        ge=1024,
        description="Feeds: largest feed document or page in bytes (default 10 MiB, after decompression); "
        "a larger answer is an error for that feed, never truncated.",
    )
    feeds_max_redirects: int = Field(5, ge=0, description="Feeds: redirects followed per fetch; more is an error for that feed.")
    feeds_concurrency: int = Field(8, ge=1, description="Feeds: most fetches in flight at once, over all feeds.")
    feeds_jitter: float = Field(
        0.1, ge=0, lt=1, description="Feeds: each poll interval is multiplied by a random factor in [1 - jitter, 1 + jitter]."
    )
    feeds_backoff_max: float = Field(
        3600.0, gt=0, description="Feeds: longest wait in seconds after consecutive errors (the interval doubles per error up to it)."
    )
    feeds_retry_after_max: float = Field(
        6 * 3600.0, gt=0, description="Feeds: longest Retry-After in seconds honoured from a 429 or 503 (a longer one is cut to it)."
    )
    feeds_seen_per_feed: int = Field(
        1000,
        ge=10,
        le=10_000,
        description="Feeds: entry ids remembered per feed (on the compacted feeds.seen topic); must exceed "
        "the entries a feed lists at once, or forgotten entries still listed are published again.",
    )
    feeds_user_agent: str = Field("newsalert-feeds/0.1 (+https://github.com/newsalert)", description="Feeds: the User-Agent of every fetch.")

    # --- operator console (``/console`` of the subscription API) -------------------------------
    console_session_ttl: float = Field(
        8 * 3600.0,
        gt=0,
        le=30 * 86400,
        description="Seconds a console sign-in lasts (the signed session cookie's expiry); signing in "
        "again starts a new one. Changing NEWSALERT_API_TOKEN ends every session.",
    )
    console_secure_cookie: bool = Field(
        False, description="Mark the console's session cookie Secure (sent over HTTPS only): set it behind TLS."
    )
    console_backtest_articles: int = Field(
        5000,
        ge=1,
        le=50_000,
        description="Rule tester: how many of the newest articles of the articles topic a back-test "
        "matches (read once, kept in the API's memory, refreshed as below).",
    )
    console_backtest_refresh: float = Field(
        300.0, gt=0, description="Rule tester: seconds the back-test articles are reused before they are read again."
    )
    console_recent_alerts: int = Field(
        500, ge=1, le=20_000, description="Console Alerts page: how many of the newest alerts it reads from each matches partition."
    )
    console_attempts_scan: int = Field(
        10_000,
        ge=1,
        le=1_000_000,
        description="Console Subscribers page: how many of the newest records of each deliveries.attempts "
        "partition its success rates and last attempts are computed from.",
    )
    console_health_urls: str = Field(
        "",
        description="Console Overview: the services whose health it shows, comma-separated name=URL "
        "(e.g. 'matcher=http://10.0.0.5:6066/healthz, notifier=http://10.0.0.6:8082/healthz'); each is "
        "asked with a GET when the page is shown (2xx = up). Empty: only what the consumer groups show.",
    )
    console_read_timeout: float = Field(
        20.0, gt=0, description="Seconds one console page may spend reading the topics before it shows what it has not read as an error."
    )

    # --- logging ------------------------------------------------------------------------------
    log_format: str = Field("text", description="'text' or 'json' (one JSON object per line).")
    log_level: str = Field("INFO", description="Python logging level name.")

    # --- delivery -----------------------------------------------------------------------------
    allow_private_targets: bool = Field(
        False,
        description="RISK: allows webhooks to loopback, private, link-local and other internal "
        "addresses, which lets whoever edits the rules reach internal services (SSRF). For tests "
        "and local demos only.",
    )
    allowed_target_networks: str = Field(
        "",
        description="RISK: comma-separated networks in CIDR notation (e.g. '10.1.2.0/24, fd00:1::/64'; "
        "a bare address is one host) that webhooks may reach although they are loopback, private "
        "or otherwise special-purpose. Every address in them becomes reachable by whoever edits "
        "the rules or registers a subscription (SSRF): list the fewest, narrowest networks.",
    )
    webhook_timeout: float = Field(
        10.0, gt=0, description="Seconds one webhook POST may take in all (connect, send, answer)."
    )
    webhook_connect_timeout: float = Field(
        5.0, gt=0, description="Seconds to establish the connection of a webhook POST."
    )
    retry_schedule: str = Field(
        "5,300,1800,7200,18000,36000,36000",
        description="Notifier: seconds to wait before each retry of a failed webhook POST, "
        "comma-separated (empty = no retry): by default 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, "
        "i.e. 8 attempts over about 27 h. After the last one the alert goes to deliveries.dead. "
        "Retries wait on the retry topics, never in the consumer loop. The retry table is in "
        "newsalert/domain/delivery/retry.py.",
    )
    retry_jitter: float = Field(
        0.2, ge=0, lt=1, description="Notifier: each retry delay is multiplied by a random factor in [1 - jitter, 1 + jitter]."
    )
    retry_throttle_floor: float = Field(
        60.0,
        ge=0,
        description="Notifier: least delay in seconds before retrying after a timeout or a 429 "
        "(0 = none), so an overloaded receiver is not hit again within seconds.",
    )
    breaker_threshold: int = Field(
        5, ge=1, description="Notifier: consecutive failed POSTs to one endpoint that open its circuit breaker."
    )
    breaker_cooldown: float = Field(
        30.0,
        ge=0,
        description="Notifier: seconds an open circuit breaker holds back requests before one probe "
        "is let through. A held-back request is not an attempt: its alert waits on the retry topic "
        "of this tier until the breaker lets a probe through, then makes the same attempt.",
    )
    breaker_cooldown_max: float = Field(
        300.0,
        ge=0,
        description="Notifier: longest cool-down of a circuit breaker: each failed probe doubles the "
        "cool-down up to this (5 min by default), so an endpoint down for hours is probed, and its "
        "queued alerts woken, ever less often; a success starts again from NEWSALERT_BREAKER_COOLDOWN. "
        "It is also the most a recovered endpoint waits for its next probe. A value below "
        "NEWSALERT_BREAKER_COOLDOWN means the cool-down never grows.",
    )
    notifier_max_in_flight: int = Field(
        64, ge=1, description="Notifier: most webhook POSTs in flight at once, over all subscribers."
    )
    notifier_batch_max_bytes: int = Field(
        512 * 1024,
        ge=1024,
        le=900_000,
        description="Notifier: most bytes of alert records in one batched POST (subscribers with "
        "batch_max). A failed batch travels whole on a retry topic, so this keeps its record under "
        "the broker's default limit of 1 MB per record; the first alert of a batch always goes.",
    )
    notifier_max_in_flight_per_subscriber: int = Field(
        1,
        ge=1,
        description="Notifier: most webhook POSTs in flight at once to one subscriber. 1 keeps a "
        "subscriber's alerts in partition order (except around retries); more gives throughput "
        "and gives up that order.",
    )
    notifier_max_pending: int = Field(
        2000,
        ge=1,
        description="Notifier: most fetched alerts not yet settled; above it, fetching pauses "
        "(bounds memory while a subscriber is slow).",
    )
    notifier_linger_ms: int = Field(
        20,
        ge=0,
        description="Notifier: milliseconds its producer waits to fill a batch of attempt records, "
        "claims and retries. Delivered alerts do not wait for it (their lane moves on at once); "
        "it delays only their commit, and retries and dead letters, which are waited for in the lane.",
    )
    notifier_commit_interval: float = Field(
        1.0, gt=0, description="Notifier: seconds between offset commits while alerts flow."
    )
    shutdown_grace: float = Field(
        20.0,
        gt=0,
        description="Seconds a stopping service waits for in-flight work before it gives up on it "
        "(given-up work is not committed, so it is redone after restart).",
    )

    # --- matcher (faust) ----------------------------------------------------------------------
    matcher_commit_interval: float = Field(
        1.0, gt=0, description="Matcher: seconds between offset commits (faust's default is 2.8); "
        "shorter means fewer articles matched twice after a crash."
    )
    consumer_session_timeout: float = Field(
        10.0,
        ge=6,
        description="Seconds without heartbeat after which the group coordinator declares a consumer "
        "dead and moves its partitions (faust's default is 60). At least the broker's "
        "group.min.session.timeout.ms (6 s by default).",
    )
    matcher_max_in_flight: int = Field(
        1000,
        ge=1,
        description="Matcher: most articles whose outputs are sent but not yet acknowledged by the "
        "broker (the pipelining window; offsets are committed only behind the oldest one, so a "
        "crash redoes at most about this many articles). 1 = wait for each article's acks.",
    )
    matcher_linger_ms: int = Field(
        5, ge=0, description="Matcher: milliseconds the producer waits to fill a batch of alerts."
    )
    stall_timeout: float = Field(
        60.0,
        ge=0,
        description="Matcher: seconds an assigned partition may have lag without any offset commit "
        "before the worker declares itself stalled (/healthz 503) and exits with status 3 for its "
        "supervisor to restart it; 0 turns stall detection off. Keep it well above the commit "
        "interval and the time one article can take.",
    )
    rules_poll_interval: float = Field(
        1.0, gt=0, description="Matcher: seconds between checks of the rule file for changes (hot reload)."
    )
    rules_incremental_max: int = Field(
        2000,
        ge=0,
        description="Matcher: a rule-set change of at most this many rules (added, removed or with a "
        "changed query) is applied to the running engine rule by rule, between two articles; a larger "
        "one compiles a new engine in a thread and swaps it in (0: always compile anew).",
    )
    rules_feed_max_bytes: int = Field(
        64 * 1024 * 1024,
        ge=1024 * 1024,
        description="Largest record on the rules topic (a whole rule-file snapshot: about 80 bytes a "
        "rule, so 100,000 rules need ~8 MB): the topic's max.message.bytes, the producers' request "
        "limit and the feed readers' fetch size.",
    )
    dedup_window: float = Field(
        86400.0,
        ge=0,
        description="Notifier: seconds within which a subscriber gets an article at most once per rule "
        "(same id, same canonical URL, or same title and first paragraph); 0 turns de-duplication "
        "off. Memory: the notifier keeps the claims of one window in memory (about 3 per alert "
        "delivered, a few hundred bytes each) and reads its partitions' claims back from the "
        "matches.claims topic when it is assigned them, so a long window at a high alert rate costs "
        "memory and start-up time.",
    )

    @field_validator("broker_backoff_max")
    @classmethod
    def _cap_not_below_first(cls, value: float, info) -> float:
        """A cap below the first wait would make the backoff shrink: refuse it at startup."""
        first = info.data.get("broker_backoff_first")
        if first is not None and value < first:
            raise ValueError(f"NEWSALERT_BROKER_BACKOFF_MAX ({value}) is below NEWSALERT_BROKER_BACKOFF_FIRST ({first})")
        return value

    @field_validator("retry_schedule")
    @classmethod
    def _delays_parse(cls, value: str) -> str:
        """Refuse a retry-delay list that does not parse, at startup rather than at the first failure."""
        from newsalert.domain.delivery.retry import parse_delays

        parse_delays(value)
        return value

    @field_validator("allowed_target_networks")
    @classmethod
    def _networks_parse(cls, value: str) -> str:
        """Refuse an allow-list that does not parse, at startup rather than at the first delivery."""
        from newsalert.domain.delivery.ssrf import parse_networks

        parse_networks(value)
        return value

    @model_validator(mode="after")
    def _kafka_settings_fit(self) -> "Settings":
        """Refuse replication and security settings that cannot work together, at startup."""
        if self.min_insync_replicas > self.replication_factor:
            raise ValueError(
                f"NEWSALERT_MIN_INSYNC_REPLICAS ({self.min_insync_replicas}) is above "
                f"NEWSALERT_REPLICATION_FACTOR ({self.replication_factor}): no write could ever succeed"
            )
        if self.kafka_security_protocol.startswith("SASL_") and not (self.kafka_sasl_username and self.kafka_sasl_password):
            raise ValueError(
                f"NEWSALERT_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                "NEWSALERT_KAFKA_SASL_USERNAME and NEWSALERT_KAFKA_SASL_PASSWORD"
            )
        if (self.kafka_ssl_certfile is None) != (self.kafka_ssl_keyfile is None):
            raise ValueError("NEWSALERT_KAFKA_SSL_CERTFILE and NEWSALERT_KAFKA_SSL_KEYFILE go together: set both or neither")
        return self

    def retry_policy(self):
        """The notifier's ``RetryPolicy``: the schedule, jitter and throttle floor, and the breaker's
        cool-down as the wait of held-back alerts (the webhook timeout when there is no cool-down:
        a held-back alert then waits for the probe's answer)."""
        from newsalert.domain.delivery.retry import RetryPolicy

        wait = self.breaker_cooldown if self.breaker_cooldown > 0 else self.webhook_timeout
        return RetryPolicy.from_text(self.retry_schedule, self.retry_jitter, self.retry_throttle_floor, wait)

    def topic(self, name: str) -> str:
        """The full name of topic ``name`` behind the configured prefix."""
        return f"{self.topic_prefix}{name}"

    def group(self, name: str) -> str:
        """The full name of consumer group ``name`` behind the configured prefix."""
        return f"{self.topic_prefix}{name}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()
