"""The route table of the subscription API: the single source of its routes and its OpenAPI document.

``ROUTES`` lists every operation once: method, path, handler, whether it needs the bearer token,
the request model and every answer (status -> description and model). ``newsalert.services.api.app``
registers exactly these routes, and ``openapi_document()`` builds ``/openapi.json`` from the same
table and the pydantic models' JSON Schemas (OpenAPI 3.1 uses JSON Schema 2020-12, which is what
pydantic generates), so the document cannot drift from the implementation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Awaitable, Callable

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from newsalert.schemas.api import (
    DeliveryList,
    ErrorBody,
    Health,
    Readiness,
    RuleTestRequest,
    RuleTestResult,
    SubscriptionCreated,
    SubscriptionList,
    SubscriptionRequest,
    SubscriptionView,
)
from newsalert.services.api import handlers

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

TEXT = "text/plain"
JSON = "application/json"


@dataclass(frozen=True)
class Answer:
    """One documented answer: a description and the body's model, or a media type and a plain
    JSON Schema for bodies that are not models (neither = no body)."""

    description: str
    model: type[BaseModel] | None = None
    media: str | None = None
    schema: dict[str, Any] | None = None


@dataclass(frozen=True)
class Route:
    """One operation of the API."""

    method: str
    path: str
    handler: Handler
    operation_id: str
    summary: str
    answers: dict[int, Answer]
    body: type[BaseModel] | None = None
    auth: bool = True
    tags: tuple[str, ...] = field(default=())


_UNAUTHORIZED = Answer("Missing or wrong bearer token (WWW-Authenticate: Bearer).", ErrorBody)
_INVALID_JSON = Answer("The body is not UTF-8 JSON.", ErrorBody)
_TOO_LARGE = Answer("The body is larger than NEWSALERT_API_MAX_BODY_BYTES.", ErrorBody)
_INVALID = Answer("The body does not validate; each problem names its field.", ErrorBody)
_NOT_FOUND = Answer("No subscription with this id.", ErrorBody)
_UNAVAILABLE = Answer("The broker is not reachable, or the API has not read the rules topic yet.", ErrorBody)

ROUTES: tuple[Route, ...] = (
    Route(
        "POST", "/subscriptions", handlers.create_subscription, "createSubscription",
        "Create a subscription, verify the webhook's intent (challenge echo), return it with its secret.",
        {
            201: Answer("Created; status is active when the webhook echoed the challenge, else pending with the reason. "
                        "The secret is shown only in this answer.", SubscriptionCreated),
            400: _INVALID_JSON, 401: _UNAUTHORIZED, 413: _TOO_LARGE, 422: _INVALID, 503: _UNAVAILABLE,
        },
        body=SubscriptionRequest, tags=("subscriptions",),
    ),
    Route(
        "GET", "/subscriptions", handlers.list_subscriptions, "listSubscriptions",
        "Every subscription, oldest first (never with its secret).",
        {200: Answer("The subscriptions.", SubscriptionList), 401: _UNAUTHORIZED, 503: _UNAVAILABLE},
        tags=("subscriptions",),
    ),
    Route(
        "GET", "/subscriptions/{id}", handlers.get_subscription, "getSubscription",
        "One subscription (never with its secret).",
        {200: Answer("The subscription.", SubscriptionView), 401: _UNAUTHORIZED, 404: _NOT_FOUND, 503: _UNAVAILABLE},
        tags=("subscriptions",),
    ),
    Route(
        "DELETE", "/subscriptions/{id}", handlers.delete_subscription, "deleteSubscription",
        "Delete a subscription (a tombstone on the rules topic); its alerts stop within seconds.",
        {204: Answer("Deleted."), 401: _UNAUTHORIZED, 404: _NOT_FOUND, 503: _UNAVAILABLE},
        tags=("subscriptions",),
    ),
    Route(
        "GET", "/subscriptions/{id}/deliveries", handlers.list_deliveries, "listDeliveries",
        "The newest delivery attempts to this subscription's webhook, oldest first.",
        {200: Answer("The attempts.", DeliveryList), 401: _UNAUTHORIZED, 404: _NOT_FOUND, 503: _UNAVAILABLE},
        tags=("subscriptions",),
    ),
    Route(
        "POST", "/rules/test", handlers.test_rule, "testRule",
        "Match one query against one article with the real engine: match and highlights.",
        {
            200: Answer("Whether it matches, and the highlights (offsets into the cleaned fields).", RuleTestResult),
            400: _INVALID_JSON, 401: _UNAUTHORIZED, 413: _TOO_LARGE,
            422: Answer("The body does not validate, or the query does not parse (field 'query' with the column).", ErrorBody),
        },
        body=RuleTestRequest, tags=("rules",),
    ),
    Route("GET", "/healthz", handlers.healthz, "healthz", "The process serves HTTP.",
          {200: Answer("Up.", Health)}, auth=False, tags=("operations",)),
    Route("GET", "/readyz", handlers.readyz, "readyz", "Ready once the rules topic has been read and the producer connected.",
          {200: Answer("Ready.", Readiness), 503: Answer("Not ready, and why.", Readiness)}, auth=False, tags=("operations",)),
    Route("GET", "/metrics", handlers.metrics, "metrics", "Prometheus metrics.",
          {200: Answer("Prometheus text exposition.", media=TEXT, schema={"type": "string"})}, auth=False, tags=("operations",)),
    Route("GET", "/openapi.json", handlers.openapi, "openapi", "This document.",
          {200: Answer("The OpenAPI document.", media=JSON, schema={"type": "object"})}, auth=False, tags=("operations",)),
)

PUBLIC_PATHS = frozenset(route.path for route in ROUTES if not route.auth)
"""Paths served without the bearer token."""

_REF = "#/components/schemas/{model}"


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``ROUTES`` (computed once; the table is constant)."""
    inputs = {r.body for r in ROUTES if r.body is not None}
    outputs = {a.model for r in ROUTES for a in r.answers.values() if a.model is not None}
    keyed = [(m, "validation") for m in sorted(inputs, key=lambda m: m.__name__)]
    keyed += [(m, "serialization") for m in sorted(outputs, key=lambda m: m.__name__)]
    refs, defs = models_json_schema(keyed, ref_template=_REF)
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "newsalert subscription API",
            "version": "1",
            "description": "Webhook subscriptions to news watch rules. See docs/api.md.",
        },
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _operation(route: Route, refs: dict) -> dict[str, Any]:
    """One OpenAPI operation object."""
    op: dict[str, Any] = {"operationId": route.operation_id, "summary": route.summary, "tags": list(route.tags)}
    op["security"] = [{"bearer": []}] if route.auth else []
    if "{id}" in route.path:
        op["parameters"] = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}]
    if route.body is not None:
        op["requestBody"] = {"required": True, "content": {JSON: {"schema": refs[(route.body, "validation")]}}}
    op["responses"] = {str(status): _response(answer, refs) for status, answer in sorted(route.answers.items())}
    return op


def _response(answer: Answer, refs: dict) -> dict[str, Any]:
    out: dict[str, Any] = {"description": answer.description}
    if answer.model is not None:
        out["content"] = {JSON: {"schema": refs[(answer.model, "serialization")]}}
    elif answer.media is not None:
        out["content"] = {answer.media: {"schema": answer.schema or {}}}
    return out
