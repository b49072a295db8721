"""One record of the ``articles`` topic in, the records to publish out: the matcher's per-message guard.

:meth:`ArticleMatcher.process` never raises for anything one record can cause. It returns an
:class:`Outcome` holding either

- one ``newsalert.schemas.Alert`` per (matching rule, subscriber in the rule's ``notify``), to the
  ``matches`` topic with the subscriber id as key, or
- one ``newsalert.schemas.RejectedRecord`` to ``articles.rejected`` when the record is not an article
  (no value, not UTF-8 JSON, fails ``newsalert.schemas.Article``: the reason names the field) or when
  matching it raised (the reason names the exception type and message; the traceback is logged).

Faust acknowledges a message whose processing raised, so an exception escaping the agent would
lose the record silently; catching here, per record, is what makes "nothing is dropped" hold.
Only ``MemoryError`` is let through: the process, not the record, is then in trouble.

This module does no I/O: the agent (``newsalert.services.matcher.app``) publishes what it returns. Keeping
the decision pure lets the unit tests drive it with an engine that raises.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from datetime import datetime, timezone
from typing import Protocol

from newsalert.adapters.broker import Record
from newsalert.config import Settings
from newsalert.domain.articles import InvalidArticle, decode_article
from newsalert.domain.dedup import story_fingerprints
from newsalert.domain.rulefile import RuleSet
from newsalert.domain.delivery.ids import webhook_id
from newsalert.domain.matching import Document, Engine, RuleMatch, prepare
from newsalert.schemas.dedup import DEDUP_HEADER
from newsalert.domain.alerts import highlight_fields, summarise, wire_highlights
from newsalert.schemas import Alert, Article, RejectedRecord, RuleRef
from newsalert.schemas._common import truncate, utc_now
from newsalert.services.matcher.encoding import AlertEncoder
from newsalert.schemas.rejected import REASON_MAX

log = logging.getLogger(__name__)



class MatchingEngine(Protocol):
    """What the matcher needs of ``newsalert.domain.matching.Engine``."""

    def match(self, doc: Document) -> list[RuleMatch]: ...


class RuleInfo(Protocol):
    """What the matcher needs of a compiled rule (``rulefile.CompiledRule`` has it)."""

    id: str
    query: str
    notify: Sequence[str]


@dataclass(frozen=True, slots=True)
class SourcePosition:
    """Where a record came from; copied into dead letters so an operator can find the original."""

    topic: str
    partition: int
    offset: int
    key: bytes | None = None
    timestamp_ms: int | None = None
    cleaned: bool = False  # the record carries ``CLEANED_HEADER``: its producer cleaned it


@dataclass(slots=True)
class Outcome:
    """What to publish for one source record: alerts, or one dead letter (never both).

    ``alerts`` counts records for ``matches``; ``consumed`` is 1 for an article.
    """

    records: list[Record] = field(default_factory=list)
    article_id: str | None = None
    alerts: int = 0
    rejected: RejectedRecord | None = None
    consumed: int = 1


class ArticleMatcher:
    """Matches raw ``articles`` records against one rule set compiled into one engine.

    ``rules`` are the rule set's rules in file order, ``ruleset_version`` goes on every alert,
    ``matches_topic`` and ``rejected_topic`` are the full (prefixed) topic names.
    """

    def __init__(
        self,
        engine: MatchingEngine,
        rules: Sequence[RuleInfo],
        ruleset_version: str,
        *,
        matches_topic: str,
        rejected_topic: str,
        clock: Callable[[], datetime] = utc_now,
        dedup: bool = False,
    ) -> None:
        self.engine = engine
        self.rules = dict(zip(map(attrgetter("id"), rules), rules))
        self.ruleset_version = ruleset_version
        self.matches_topic = matches_topic
        self.rejected_topic = rejected_topic
        self._clock = clock
        # True: every alert record carries its article's story fingerprints in a header
        # (``DEDUP_HEADER``), which the notifier de-duplicates on (services/notifier/claims.py).
        self.dedup = dedup
        self._encoder = AlertEncoder()  # caches the encoded rules and subscribers of this rule set
        # The term lists the engine's queries were parsed with (set by ``build_matcher``).
        self.rule_lists: Mapping[str, Sequence[str]] | None = None

    def process(self, raw: bytes | None, position: SourcePosition) -> Outcome:
        """The records to publish for ``raw`` read at ``position``; never raises for a bad record."""
        try:
            article = decode_article(raw, cleaned=position.cleaned)
        except InvalidArticle as exc:
            log.warning("rejected %s: %s", _where(position), exc)
            return self._reject(exc, str(exc), raw, position, exc.record_id)
        try:
            alerts = self.alert_values(article, _ingested_at(position))
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - one record's failure must not stop the stream
            log.exception("matching article %r at %s raised; dead-lettering it", article.id, _where(position))
            reason = f"matching raised {type(exc).__name__}: {exc}"
            return self._reject(exc, reason, raw, position, article.id)
        headers: tuple = ()
        if self.dedup and alerts:
            prints = story_fingerprints(article.id, article.url, article.title, article.body)
            headers = ((DEDUP_HEADER, json.dumps(prints).encode()),)
        records = [Record(self.matches_topic, value, key=subscriber.encode(), headers=headers) for subscriber, value in alerts]
        return Outcome(records=records, article_id=article.id, alerts=len(alerts))

    def alerts_for(self, article: Article, ingested_at: datetime | None = None) -> list[Alert]:
        """One alert per (matching rule, subscriber notified by it), in rule-file order.

        ``article`` must be cleaned (``parse_article`` / ``decode_article`` output). One validated
        ``Alert`` model per alert: the reference that :meth:`alert_values` encodes faster.
        """
        matched, matched_at = self._matched_rules(article)
        return self._alerts(article, matched, matched_at, ingested_at)

    def alert_values(self, article: Article, ingested_at: datetime | None = None) -> list[tuple[str, bytes]]:
        """``(subscriber, alert.to_json())`` for each alert of :meth:`alerts_for`, same order and bytes.

        The bytes are joined from parts encoded once per article, rule or subscriber
        (``newsalert.services.matcher.encoding.AlertEncoder``) instead of one model per alert. Should anything in them
        fail (a part that is not valid for an ``Alert``), the alerts are built as models after
        all: what is raised, and so dead-lettered, is then exactly what ``alerts_for`` raises.
        """
        matched, matched_at = self._matched_rules(article)
        if not matched:
            return []
        try:
            return self._encoded(article, matched, matched_at, ingested_at)
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - the models decide what is wrong
            alerts = self._alerts(article, matched, matched_at, ingested_at)  # raises the Alert's error
            # The models accepted what the encoder refused: a bug in the encoder, not in the input.
            log.warning("encoding the alerts of article %r raised %r; built them as models", article.id, exc)
            return [(alert.subscriber, alert.to_json()) for alert in alerts]

    def _matched_rules(self, article: Article) -> tuple[list[tuple[RuleInfo, RuleMatch]], datetime]:
        """The rules that match ``article``, pass its filters and notify someone; and the match time."""
        # parse_article already cleaned title and body: clean once (cleaning twice costs a third
        # of the matcher's CPU and is not idempotent, and highlights must point into this text).
        doc = prepare(article.title, article.body, article.source, cleaned=True)
        matched_at = self._clock()
        matched = []
        for match in self.engine.match(doc):
            rule = self.rules[match.rule_id]
            if not rule_accepts(rule, article):
                continue  # the rule's languages/sources filter excludes this article
            if not rule.notify:
                # A rule without subscribers is legitimate (being drafted, or used with
                # `newsalert match` only): nothing to deliver.
                log.debug("rule %r matched article %r but notifies nobody", rule.id, article.id)
                continue
            matched.append((rule, match))
        return matched, matched_at

    def _alerts(
        self, article: Article, matched: list[tuple[RuleInfo, RuleMatch]], matched_at: datetime, ingested_at: datetime | None
    ) -> list[Alert]:
        """The alerts of ``matched`` as validated models, one per (rule, subscriber)."""
        if not matched:
            return []
        summary = summarise(article, cleaned=True)  # once per article, only if something matched
        alerts: list[Alert] = []
        for rule, match in matched:
            ref = RuleRef(id=rule.id, query=rule.query)
            highlights = wire_highlights(match)
            for subscriber in rule.notify:
                alerts.append(
                    Alert(
                        webhook_id=webhook_id(article.id, rule.id, subscriber),
                        article=summary, rule=ref, subscriber=subscriber, highlights=highlights,
                        matched_at=matched_at, ruleset_version=self.ruleset_version, ingested_at=ingested_at,
                    )
                )
        return alerts

    def _encoded(
        self, article: Article, matched: list[tuple[RuleInfo, RuleMatch]], matched_at: datetime, ingested_at: datetime | None
    ) -> list[tuple[str, bytes]]:
        """What :meth:`_alerts` builds, as ``(subscriber, JSON)``, from parts encoded once each."""
        # The same summary model as _alerts; the encoder validates every other part as the
        # Alert would (the highlights in one call for the list, not one model each).
        alerts = self._encoder.article(summarise(article, cleaned=True), matched_at, ingested_at, self.ruleset_version)
        values: list[tuple[str, bytes]] = []
        for rule, match in matched:
            encoded = alerts.encode(rule.id, rule.query, highlight_fields(match), rule.notify)
            values.extend(zip(rule.notify, encoded))
        return values

    def _reject(
        self, exc: BaseException, reason: str, raw: bytes | None, position: SourcePosition, record_id: str | None
    ) -> Outcome:
        dead = RejectedRecord.of(
            "matcher", exc, raw, record_id=record_id,
            topic=position.topic, partition=position.partition, offset=position.offset, key=position.key,
        )
        # ``of`` takes the reason from str(exc); the matcher's reason also says which step failed.
        dead = RejectedRecord.model_validate({**dead.model_dump(), "reason": _bounded_reason(reason)})
        key = record_id.encode() if record_id else position.key
        return Outcome(records=[Record(self.rejected_topic, dead.to_json(), key=key)], article_id=record_id, rejected=dead)


def rule_accepts(rule: RuleInfo, article: Article) -> bool:
    """The rule's metadata filters (``CompiledRule.accepts``); rules without them accept all."""
    accepts = getattr(rule, "accepts", None)
    return accepts is None or accepts(article.language, article.source)


def _bounded_reason(reason: str) -> str:
    return truncate(reason, REASON_MAX)


def _ingested_at(position: SourcePosition) -> datetime | None:
    """The record's Kafka timestamp: when the producer (ingest, replay) handed the article over."""
    if position.timestamp_ms is None or position.timestamp_ms < 0:
        return None
    return datetime.fromtimestamp(position.timestamp_ms / 1000, tz=timezone.utc)


def _where(position: SourcePosition) -> str:
    return f"{position.topic}[{position.partition}]@{position.offset}"


def build_matcher(settings: Settings, ruleset: RuleSet, *, dedup: bool = True, engine: Engine | None = None) -> ArticleMatcher:
    """Compile the engine once for ``ruleset`` and bind it to the output topics.

    ``dedup``: story fingerprints on every alert (the notifier de-duplicates on them;
    ``NEWSALERT_DEDUP_WINDOW`` is its setting), on in the service. ``engine``: one that already
    matches ``ruleset``'s rules (see :func:`changed_matcher`).
    """
    matcher = ArticleMatcher(
        engine if engine is not None else Engine(ruleset.rules),
        ruleset.rules,
        ruleset.version,
        matches_topic=settings.topic("matches"),
        rejected_topic=settings.topic("articles.rejected"),
        dedup=dedup,
    )
    matcher.rule_lists = ruleset.lists
    return matcher


def changed_matcher(settings: Settings, current: ArticleMatcher, ruleset: RuleSet, *, dedup: bool = True) -> ArticleMatcher | None:
    """A matcher for ``ruleset`` made by changing ``current``'s engine rule by rule, or None when
    more than ``settings.rules_incremental_max`` rules differ (then compile anew, off the loop).

    Changes ``current``'s engine in place: call it on the thread that matches, between articles,
    and use only the returned matcher afterwards.
    """
    engine = current.engine
    if not isinstance(engine, Engine) or current.rule_lists != ruleset.lists:
        return None  # a query's meaning depends on the term lists: changed lists, all anew
    changes = engine.changes(ruleset.rules)
    if len(changes) > settings.rules_incremental_max:
        return None
    engine.update(ruleset.rules, changes)
    return build_matcher(settings, ruleset, dedup=dedup, engine=engine)
