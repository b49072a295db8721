"""The API's request handlers. Each validates, calls the domain or the store, and answers JSON.

Handlers raise ``Refused`` for every 4xx/503; the middleware in ``newsalert.services.api.app`` turns it into
an ``ErrorBody`` answer. What each route answers is listed in the route table
(``newsalert.services.api.routes``), from which ``/openapi.json`` is generated.
"""

from __future__ import annotations

import logging

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from newsalert.domain.articles import clean_article
from newsalert.domain.matching import Engine, prepare
from newsalert.domain.rulefile import compile_rule
from newsalert.errors import QuerySyntaxError, TransientError
from newsalert.schemas.api import (
    DeliveryList,
    FieldError,
    Health,
    Readiness,
    RuleTestRequest,
    RuleTestResult,
    SubscriptionList,
    SubscriptionRequest,
)
from newsalert.domain.alerts import wire_highlights
from newsalert.schemas.rules import Rule
from newsalert.schemas.rules_feed import SubscriptionRecord
from newsalert.services.api import subscriptions as subs
from newsalert.services.api.bodies import Refused, read_model
from newsalert.services.api.deliveries import read_attempts
from newsalert.services.api.state import STATE, ApiState
from newsalert.services.api.verification import new_challenge, send_challenge

log = logging.getLogger("newsalert.api")

_READ_TIMEOUT_S = 10.0
_TEST_RULE_ID = "test"


def _json(model: BaseModel, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(model.model_dump(mode="json"), status=status, headers=headers)


def _unavailable(exc: TransientError) -> Refused:
    return Refused(503, f"the broker did not acknowledge the change: {exc}; nothing was changed, retry later", headers={"Retry-After": "5"})


def _find(state: ApiState, subscription_id: str) -> SubscriptionRecord:
    record = state.ready_view().subscriptions.get(subscription_id)
    if record is None:
        raise Refused(404, f"no subscription {subscription_id!r}")
    return record


# --- operations -------------------------------------------------------------------------------


async def healthz(request: web.Request) -> web.Response:
    """200 while the process serves HTTP."""
    return _json(Health(status="ok"))


async def readyz(request: web.Request) -> web.Response:
    """200 once the rules topic has been read and the producer is connected; 503 and why before."""
    state = request.app[STATE]
    if state.view is None:
        return _json(Readiness(ready=False, reason=state.problem), status=503)
    return _json(Readiness(ready=True))


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition."""
    state = request.app[STATE]
    state.count()
    return web.Response(body=generate_latest(state.metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 document of this API, generated from the route table and the models."""
    from newsalert.services.api.routes import openapi_document

    return web.json_response(openapi_document())


async def create_subscription(request: web.Request) -> web.Response:
    """Validate, store as pending, verify the webhook's intent, store the outcome, answer 201."""
    state = request.app[STATE]
    body = await read_model(request, SubscriptionRequest, state.settings.api_max_body_bytes)
    view = state.ready_view()
    problems = subs.check_request(body, state.known_rule_ids())
    if problems:
        raise Refused(422, "the subscription is not valid", problems)
    sub_id = subs.new_subscription_id()
    while sub_id in view.subscriptions or sub_id in state.yaml_subscriber_ids():
        sub_id = subs.new_subscription_id()
    record = subs.build_record(sub_id, body, subs.new_secret())
    try:
        async with state.write_lock:
            await state.store.put(record)
            view.subscriptions[sub_id] = record
    except TransientError as exc:
        raise _unavailable(exc) from None
    record = await _verify(state, record)
    log.info("subscription %s created: %s%s", sub_id, record.status, f" ({record.reason})" if record.reason else "")
    return _json(subs.created_view(record), status=201, headers={"Location": f"/subscriptions/{sub_id}"})


async def _verify(state: ApiState, record: SubscriptionRecord) -> SubscriptionRecord:
    """Send the challenge and store the outcome; the stored record is returned."""
    timeout = state.settings.api_challenge_timeout
    result = await send_challenge(state.session, record.subscriber.url, record.id, new_challenge(), timeout, record.subscriber.format)
    state.metrics.verifications.labels("verified" if result.verified else "not_verified").inc()
    updated = subs.with_verification(record, result.verified, result.reason)
    try:
        async with state.write_lock:
            if record.id not in state.view.subscriptions:
                return record  # deleted meanwhile: do not bring it back
            await state.store.put(updated)
            state.view.subscriptions[record.id] = updated
    except TransientError as exc:
        log.warning("storing the verification of %s failed: %s", record.id, exc)
        return record.model_copy(update={"reason": "the verification outcome could not be stored; delete and create again"})
    return updated


async def list_subscriptions(request: web.Request) -> web.Response:
    """Every subscription, oldest first, without secrets."""
    view = request.app[STATE].ready_view()
    return _json(SubscriptionList(subscriptions=[subs.view_of(r) for r in view.subscriptions.values()]))


async def get_subscription(request: web.Request) -> web.Response:
    """One subscription without its secret, or 404."""
    record = _find(request.app[STATE], request.match_info["id"])
    return _json(subs.view_of(record))


async def delete_subscription(request: web.Request) -> web.Response:
    """Publish the tombstone; 204, or 404 for an unknown id."""
    state = request.app[STATE]
    sub_id = request.match_info["id"]
    _find(state, sub_id)
    try:
        async with state.write_lock:
            await state.store.delete(sub_id)
            state.view.subscriptions.pop(sub_id, None)
    except TransientError as exc:
        raise _unavailable(exc) from None
    log.info("subscription %s deleted", sub_id)
    return web.Response(status=204)


async def list_deliveries(request: web.Request) -> web.Response:
    """The newest delivery attempts of a subscription (see ``newsalert.services.api.deliveries``)."""
    state = request.app[STATE]
    record = _find(state, request.match_info["id"])
    try:
        attempts = await read_attempts(state.settings, record.id, _READ_TIMEOUT_S)
    except TransientError as exc:
        raise Refused(503, f"the delivery attempts cannot be read now: {exc}", headers={"Retry-After": "5"}) from None
    return _json(DeliveryList(subscription=record.id, deliveries=attempts.items, note=attempts.note))


async def test_rule(request: web.Request) -> web.Response:
    """Match one query against one article with the real engine."""
    state = request.app[STATE]
    body = await read_model(request, RuleTestRequest, state.settings.api_max_body_bytes)
    try:
        rule = compile_rule(Rule(id=_TEST_RULE_ID, query=body.query))
    except QuerySyntaxError as exc:
        raise Refused(422, "the query is not valid", [FieldError(field="query", message=exc.message, column=exc.column)]) from None
    article = clean_article(body.article)
    doc = prepare(article.title, article.body, article.source, cleaned=True)
    matches = Engine([rule]).match(doc)
    highlights = wire_highlights(matches[0]) if matches else []
    return _json(RuleTestResult(match=bool(matches), highlights=highlights))
