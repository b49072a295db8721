"""From a ``POST /subscriptions`` body to a stored ``SubscriptionRecord``, and back to a view.

Pure functions (no I/O): checking the rule ids and the queries, generating the id and the secret,
building the record the ``rules`` topic carries, and the secret-free view the API shows.

Inline queries become rules ``q1``, ``q2``, ... of the subscription (in the order given); the
matcher knows them as ``<subscription id>/q1`` (``newsalert.schemas.rules_feed.inline_rule_id``).
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable

from newsalert.domain.query.parser import parse_query
from newsalert.errors import QuerySyntaxError
from newsalert.schemas._common import utc_now
from newsalert.schemas.api import FieldError, SubscriptionCreated, SubscriptionRequest, SubscriptionView
from newsalert.schemas.rules import Rule
from newsalert.schemas.rules_feed import FeedSubscriber, SubscriptionRecord

ID_PREFIX = "sub_"
SECRET_BYTES = 32
INLINE_PREFIX = "q"


def new_subscription_id() -> str:
    """A fresh random subscription id, ``sub_`` and 16 hex digits."""
    return ID_PREFIX + secrets.token_hex(8)


def new_secret() -> str:
    """A fresh Standard Webhooks secret: ``whsec_`` and the base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def query_problems(queries: Iterable[str], field: str = "queries") -> list[FieldError]:
    """One error per query that does not parse, named ``queries[i]`` with its column."""
    problems = []
    for i, query in enumerate(queries):
        try:
            parse_query(query)
        except QuerySyntaxError as exc:
            problems.append(FieldError(field=f"{field}[{i}]", message=exc.message, column=exc.column))
    return problems


def rule_id_problems(rule_ids: Iterable[str], known: set[str]) -> list[FieldError]:
    """One error per rule id that is not in the rule file, named ``rules[i]``."""
    problems = []
    for i, rule_id in enumerate(rule_ids):
        if rule_id not in known:
            problems.append(FieldError(field=f"rules[{i}]", message="no rule with this id in the rule file"))
    return problems


def check_request(request: SubscriptionRequest, known_rule_ids: set[str]) -> list[FieldError]:
    """Every problem of a structurally valid request: unknown rule ids, then query syntax."""
    return rule_id_problems(request.rules, known_rule_ids) + query_problems(request.queries)


def build_record(subscription_id: str, request: SubscriptionRequest, secret: str) -> SubscriptionRecord:
    """The first (pending) record of a new subscription."""
    now = utc_now()
    subscriber = FeedSubscriber(id=subscription_id, url=request.url, secret=(secret,), description=request.description,
                                max_per_minute=request.max_per_minute, digest=request.digest, format=request.format,
                                batch_max=request.batch_max)
    inline = tuple(Rule(id=f"{INLINE_PREFIX}{i}", query=q) for i, q in enumerate(request.queries, start=1))
    return SubscriptionRecord(
        id=subscription_id,
        revision=1,
        status="pending",
        reason="intent verification in progress",
        subscriber=subscriber,
        rule_ids=tuple(request.rules),
        rules=inline,
        created_at=now,
        updated_at=now,
    )


def with_verification(record: SubscriptionRecord, verified: bool, reason: str | None) -> SubscriptionRecord:
    """The next revision of ``record`` after a verification: active, or pending with the reason."""
    return record.model_copy(
        update={
            "revision": record.revision + 1,
            "status": "active" if verified else "pending",
            "reason": None if verified else reason,
            "updated_at": utc_now(),
        }
    )


def view_of(record: SubscriptionRecord) -> SubscriptionView:
    """What the API shows of a subscription: everything but its secret."""
    return SubscriptionView(
        id=record.id,
        url=record.subscriber.url,
        description=record.subscriber.description,
        status=record.status,
        reason=record.reason,
        rules=list(record.rule_ids),
        queries=[rule.query for rule in record.rules],
        max_per_minute=record.subscriber.max_per_minute,
        digest=record.subscriber.digest,
        batch_max=record.subscriber.batch_max,
        format=record.subscriber.format,
        revision=record.revision,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def created_view(record: SubscriptionRecord) -> SubscriptionCreated:
    """The answer to the creation: the view and, this once, the secret."""
    return SubscriptionCreated(**view_of(record).model_dump(), secret=record.subscriber.secret_values()[0])
