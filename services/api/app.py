"""The subscription API application: routes from ``newsalert.services.api.routes``, auth, lifecycle.

Authentication: every route but ``/healthz``, ``/readyz``, ``/metrics``, ``/openapi.json`` and the
operator console (``/console``, which takes the same token as a bearer header or a signed session
cookie: ``newsalert.services.api.console``) needs ``Authorization: Bearer <NEWSALERT_API_TOKEN>``, compared in constant time
(``hmac.compare_digest``). A missing or wrong token is answered 401 with
``WWW-Authenticate: Bearer`` (RFC 6750). Without a configured token every request passes; the
wiring (``newsalert.services.api.main``) allows that only with ``NEWSALERT_API_ALLOW_NO_TOKEN=true``.

Lifecycle: the app starts serving at once; in the background it creates the topics, connects the
producer and reads the ``rules`` topic (retrying while the broker is down). Until then
``/readyz`` and the subscription routes answer 503 with the reason. The challenge requests go
through one SSRF-guarded aiohttp session (``newsalert.adapters.http_guard``).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Any, Awaitable, Callable

import aiohttp
from aiohttp import web
from aiokafka.errors import KafkaError

from newsalert.adapters.broker import KafkaPublisher
from newsalert.adapters.http_guard import guarded_connector
from newsalert.adapters.topics import ensure_topics
from newsalert.config import Settings
from newsalert.domain.rulefile import RuleSet
from newsalert.errors import SetupError, TransientError
from newsalert.schemas.api import ErrorBody
from newsalert.services.api.bodies import Refused, error_response
from newsalert.services.api.console import PREFIX as CONSOLE_PREFIX
from newsalert.services.api.console import install as install_console
from newsalert.services.api.routes import PUBLIC_PATHS, ROUTES
from newsalert.services.api.state import STATE, ApiState
from newsalert.services.api.store import SubscriptionStore, read_feed

log = logging.getLogger("newsalert.api")

# Delays between attempts to reach the broker at start: quick at first, then every 10 s.
_CONNECT_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0)
_READ_FEED_TIMEOUT_S = 60.0
_AUTH_HEADER = 'Bearer realm="newsalert"'


def build_app(
    settings: Settings,
    rules: RuleSet | None = None,
    *,
    publisher_factory: Callable[[], Any] | None = None,
    connector_factory: Callable[[], aiohttp.BaseConnector] | None = None,
) -> web.Application:
    """The aiohttp application. ``rules`` is the ``--rules`` file (rule ids subscriptions may
    follow); ``connector_factory`` makes the challenge session's connector (SSRF-guarded by default)."""
    publisher_factory = publisher_factory or (lambda: KafkaPublisher(settings, client_id="newsalert-api", linger_ms=0))
    connector_factory = connector_factory or (lambda: guarded_connector(settings))
    # Room above the limit so that read_model sees a too-large body and answers 413 itself.
    app = web.Application(client_max_size=settings.api_max_body_bytes + 1, middlewares=[_answers])
    app[STATE] = ApiState(settings, rules, publisher_factory, connector_factory)
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler, name=route.operation_id)
    install_console(app, settings)
    app.on_startup.append(_start)
    app.on_cleanup.append(_stop)
    return app


# --- middleware -------------------------------------------------------------------------------


@web.middleware
async def _answers(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """Authenticate, run the handler, turn ``Refused`` into its JSON answer, count the answer."""
    state = request.app[STATE]
    try:
        _authenticate(request, state.settings)
        response = await handler(request)
    except Refused as exc:
        response = exc.response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        # aiohttp's own 404/405 as JSON error bodies too; Allow (of a 405) is kept, its
        # Content-Type is not (the body is JSON now).
        kept = {name: value for name, value in exc.headers.items() if name.lower() == "allow"}
        response = error_response(exc.status, ErrorBody(error=exc.reason), kept)
    route = request.match_info.route.name or "unmatched"
    state.metrics.requests.labels(route, str(response.status)).inc()
    return response


def _authenticate(request: web.Request, settings: Settings) -> None:
    """Raise ``Refused(401)`` unless the request carries the configured bearer token."""
    if request.path in PUBLIC_PATHS or settings.api_token is None or _is_console(request.path):
        return
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise Refused(401, "missing bearer token (Authorization: Bearer <token>)", headers={"WWW-Authenticate": _AUTH_HEADER})
    expected = settings.api_token.get_secret_value().encode()
    if not hmac.compare_digest(given.strip().encode(), expected):
        raise Refused(401, "wrong bearer token", headers={"WWW-Authenticate": f'{_AUTH_HEADER}, error="invalid_token"'})


def _is_console(path: str) -> bool:
    """Console paths sign in on their own (cookie or bearer; ``newsalert.services.api.console.access``)."""
    return path == CONSOLE_PREFIX or path.startswith(CONSOLE_PREFIX + "/")


# --- lifecycle --------------------------------------------------------------------------------


async def _start(app: web.Application) -> None:
    state = app[STATE]
    timeout = aiohttp.ClientTimeout(total=state.settings.api_challenge_timeout, connect=state.settings.webhook_connect_timeout)
    # trust_env=False: a proxy from the environment would connect past the SSRF guard.
    state.session = aiohttp.ClientSession(connector=state.connector_factory(), timeout=timeout, trust_env=False)
    state.connect_task = asyncio.create_task(_connect(state), name="api-connect")


async def _connect(state: ApiState) -> None:
    """Create the topics, start the producer and read the rules topic, retrying until it works."""
    attempt = 0
    while True:
        publisher = None
        try:
            await ensure_topics(state.settings)
            publisher = state.publisher_factory()
            await publisher.start()
            view = await read_feed(state.settings, _READ_FEED_TIMEOUT_S)
        except (TransientError, SetupError, KafkaError, OSError, asyncio.TimeoutError) as exc:
            if publisher is not None:
                await publisher.stop()
            state.problem = f"broker at {state.settings.kafka_bootstrap} not usable: {exc}"
            delay = _CONNECT_DELAYS[min(attempt, len(_CONNECT_DELAYS) - 1)]
            log.warning("%s; retrying in %.1f s", state.problem, delay)
            attempt += 1
            await asyncio.sleep(delay)
            continue
        state.publisher = publisher
        state.store = SubscriptionStore(state.settings, publisher)
        state.view = view
        state.problem = ""
        state.count()
        log.info("ready: %d subscriptions on %s", len(view.subscriptions), state.settings.topic("rules"))
        return


async def _stop(app: web.Application) -> None:
    """Stop connecting, close the producer and the challenge session."""
    state = app[STATE]
    if state.connect_task is not None:
        state.connect_task.cancel()
        await asyncio.gather(state.connect_task, return_exceptions=True)
    if state.publisher is not None:
        await state.publisher.stop()
        state.publisher = None
    if state.session is not None:
        await state.session.close()
