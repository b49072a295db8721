"""Request and response bodies of the subscription API (``newsalert serve api``, ``docs/api.md``).

The shapes reuse the rule-file models where they fit: a webhook URL is validated exactly as a
YAML subscriber's ``url`` (``newsalert.schemas.rules.WebhookUrl``), a query is bounded as a YAML rule's, and
``POST /rules/test`` takes an ``Article`` as producers publish it. Query *syntax* is checked by the
API with the real parser (so the error can carry the column), not by these models.

The OpenAPI document at ``/openapi.json`` is generated from these models and the route table in
``services/api/routes.py``; nothing here is written twice.

The secret of a subscription appears in exactly one model, ``SubscriptionCreated`` (the answer to
``POST /subscriptions``): every other view of a subscription leaves it out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from newsalert.schemas._common import Identifier
from newsalert.schemas.alert import Highlight
from newsalert.schemas.article import Article
from newsalert.schemas.delivery import DeliveryAttempt
from newsalert.schemas.formats import DeliveryFormat
from newsalert.schemas.rules import DESCRIPTION_MAX, QUERY_MAX, BatchMax, DigestWindow, MaxPerMinute, WebhookUrl
from newsalert.schemas.rules_feed import REASON_MAX, SubscriptionStatus

RULE_IDS_MAX = 100
"""Most YAML rule ids one subscription may follow."""
QUERIES_MAX = 20
"""Most inline queries one subscription may carry."""
DELIVERIES_MAX = 100
"""Most delivery attempts ``GET /subscriptions/{id}/deliveries`` returns (the newest ones)."""

# Request models refuse unknown keys (a typo must not be ignored) and never echo input in errors.
_REQUEST_CONFIG = ConfigDict(extra="forbid", hide_input_in_errors=True)
_RESPONSE_CONFIG = ConfigDict(extra="forbid")

Query = Annotated[str, Field(min_length=1, max_length=QUERY_MAX, description="A watch-rule query (docs/rules.md).")]


class SubscriptionRequest(BaseModel):
    """Body of ``POST /subscriptions``: where to deliver, and which rules (by id and/or inline)."""

    model_config = ConfigDict(
        **_REQUEST_CONFIG,
        json_schema_extra={
            "examples": [
                {"url": "https://hooks.example.org/asia-desk", "queries": ['"North Korea" AND missile*'], "description": "Asia desk"},
                {"url": "https://hooks.example.org/climate", "rules": ["climate"]},
            ]
        },
    )

    url: WebhookUrl = Field(
        description="The webhook URL (http or https, no credentials in it).",
        # Documents the scheme (a necessary condition, not the whole check) so that clients and
        # generated tests know a URL is expected; the validator of WebhookUrl does the rest.
        json_schema_extra={"pattern": "^[Hh][Tt][Tt][Pp][Ss]?://"},
    )
    rules: list[Identifier] = Field(
        default_factory=list,
        max_length=RULE_IDS_MAX,
        description="Ids of rules in the API's rule file to follow.",
    )
    queries: list[Query] = Field(
        default_factory=list, max_length=QUERIES_MAX, description="Inline queries, each a rule of this subscription only."
    )
    description: str | None = Field(None, max_length=DESCRIPTION_MAX)
    # Delivery options, exactly as a rule file's subscriber has them (docs/webhooks.md, "Rate limits").
    max_per_minute: MaxPerMinute | None = None
    digest: DigestWindow | None = None
    batch_max: BatchMax | None = None
    format: DeliveryFormat = Field(
        "standard",
        description="Body of each POST: standard (Standard Webhooks JSON), slack, teams or discord (a chat "
        "message for that platform's incoming webhook; docs/webhooks.md). A chat subscription is verified "
        "by a 2xx answer to a notice message, as chat webhooks cannot echo a challenge.",
    )

    @model_validator(mode="after")
    def _some_rule(self) -> SubscriptionRequest:
        """A subscription without any rule would never receive anything."""
        if not self.rules and not self.queries:
            raise ValueError("give at least one rule id in 'rules' or one query in 'queries'")
        if self.batch_max is not None and self.format != "standard":
            raise ValueError(f"batch_max needs format standard (a {self.format} message carries one alert)")
        seen: set[str] = set()
        for rule_id in self.rules:
            if rule_id in seen:
                raise ValueError(f"rule id {rule_id!r} is listed twice in 'rules'")
            seen.add(rule_id)
        return self


class SubscriptionView(BaseModel):
    """A subscription as the API shows it (never with its secret)."""

    model_config = _RESPONSE_CONFIG

    id: Identifier = Field(description="Subscription id; also the subscriber id in alerts and deliveries.")
    url: str
    description: str | None = None
    status: SubscriptionStatus = Field(description="pending until the webhook echoed the challenge, then active.")
    reason: str | None = Field(None, max_length=REASON_MAX, description="Why it is still pending (null when active).")
    rules: list[Identifier] = Field(description="Followed rule ids of the rule file.")
    queries: list[Query] = Field(description="Inline queries, in the order given.")
    max_per_minute: MaxPerMinute | None = None
    digest: DigestWindow | None = None
    batch_max: BatchMax | None = None
    format: DeliveryFormat = "standard"
    revision: int = Field(ge=1, description="Incremented on every stored change.")
    created_at: datetime
    updated_at: datetime


class SubscriptionCreated(SubscriptionView):
    """The answer to ``POST /subscriptions``: the view plus the signing secret, shown this once."""

    secret: str = Field(
        description="Standard Webhooks signing secret (whsec_...). Returned only here: store it now."
    )


class SubscriptionList(BaseModel):
    """The answer to ``GET /subscriptions``: every subscription, oldest first."""

    model_config = _RESPONSE_CONFIG

    subscriptions: list[SubscriptionView]


class DeliveryList(BaseModel):
    """The answer to ``GET /subscriptions/{id}/deliveries``: the newest attempts, oldest first."""

    model_config = _RESPONSE_CONFIG

    subscription: Identifier
    deliveries: list[DeliveryAttempt] = Field(max_length=DELIVERIES_MAX)
    note: str | None = Field(None, description="Why the list may be incomplete, when it may be.")


class RuleTestRequest(BaseModel):
    """Body of ``POST /rules/test``: one query and one article."""

    model_config = ConfigDict(
        **_REQUEST_CONFIG,
        json_schema_extra={
            "examples": [
                {"query": '"North Korea" AND missile*', "article": {"id": "a1", "title": "North Korea fires missiles", "body": "..."}}
            ]
        },
    )

    query: Query
    article: Article


class RuleTestResult(BaseModel):
    """Whether the query matches the article, and the words that made it match.

    Highlight offsets point into the *cleaned* title, body or source (tags removed, entities
    decoded), exactly as in alerts; ``text`` is the highlighted text itself.
    """

    model_config = _RESPONSE_CONFIG

    match: bool
    highlights: list[Highlight]


class FieldError(BaseModel):
    """One problem with a request: the field path (``queries[1]``, ``article.title``), what is
    wrong, and for a query the 1-based column inside it."""

    model_config = _RESPONSE_CONFIG

    field: str = Field(description="Path of the field; '<body>' for the whole body.")
    message: str
    column: int | None = Field(None, ge=1, description="1-based column inside a query, for query errors.")


class ErrorBody(BaseModel):
    """Every 4xx and 5xx answer of the API."""

    model_config = _RESPONSE_CONFIG

    error: str = Field(description="One sentence saying what went wrong.")
    errors: list[FieldError] = Field(default_factory=list, description="Each field problem, for 422 answers.")


class Health(BaseModel):
    """The answer to ``GET /healthz``."""

    model_config = _RESPONSE_CONFIG

    status: str


class Readiness(BaseModel):
    """The answer to ``GET /readyz``."""

    model_config = _RESPONSE_CONFIG

    ready: bool
    reason: str | None = None
