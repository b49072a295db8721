"""The console's POSTs: sign in and out, and the two subscriber actions.

The subscriber actions are the ones of ``newsalert deliveries`` through the same code
(``newsalert.adapters.delivery_history``): *re-enable* publishes an ``enabled`` state to
``deliveries.subscribers``; *replay* re-publishes the subscriber's dead letters to ``matches``
with their original ``webhook_id``. Each answers with a redirect to the Subscribers page (so a
reload does not repeat it) that says what was done.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from urllib.parse import urlencode

from aiohttp import web

from newsalert.adapters import delivery_history as history
from newsalert.errors import TransientError
from newsalert.schemas import SubscriberState
from newsalert.services.api.console.access import action, render, signin_page, visitor
from newsalert.services.api.console.session import COOKIE
from newsalert.services.api.console.state import CONSOLE
from newsalert.services.api.state import STATE

log = logging.getLogger("newsalert.api.console")

HOME = "/console/overview"


async def signin_form(request: web.Request) -> web.Response:
    """The sign-in form (200 here, 401 on a page asked for without sign-in)."""
    if visitor(request) is not None:
        raise web.HTTPSeeOther(HOME)
    return signin_page(request, status=200)


async def signin(request: web.Request) -> web.Response:
    """Check the token; on success set the session cookie and go to the page asked for."""
    form = await request.post()
    sessions = request.app[CONSOLE].sessions
    if not sessions.token_matches(str(form.get("token", ""))):
        log.warning("console sign-in refused (wrong token) from %s", request.remote)
        return render(request, "signin.html", {"next": _safe_next(form.get("next")), "message": "wrong token"}, status=401)
    value, _ = sessions.issue()
    response = web.HTTPSeeOther(_safe_next(form.get("next")))
    response.set_cookie(
        COOKIE, value, max_age=int(sessions.ttl), path="/console", httponly=True, samesite="Strict",
        secure=request.app[STATE].settings.console_secure_cookie,
    )
    raise response


def _safe_next(target) -> str:
    """Only a console path may be returned to (no open redirect)."""
    target = str(target or "")
    return target if target.startswith("/console/") and not target.startswith("//") and "\\" not in target else HOME


@action
async def signout(request: web.Request) -> web.Response:
    """End the browser's session (the cookie is removed)."""
    response = web.HTTPSeeOther("/console/signin")
    response.del_cookie(COOKIE, path="/console")
    raise response


@action
async def enable(request: web.Request) -> web.Response:
    """Enable a subscriber disabled after a 410 Gone, as ``newsalert deliveries enable`` does."""
    settings = request.app[STATE].settings
    subscriber = request.match_info["id"]
    state = SubscriberState(subscriber=subscriber, status="enabled", reason="enabled from the console", at=datetime.now(timezone.utc))
    try:
        await history.set_state(settings, state)
    except TransientError as exc:
        return render(request, "refused.html", {"reason": f"nothing was changed: {exc}"}, status=503)
    log.info("console: %s enabled", subscriber)
    raise web.HTTPSeeOther("/console/subscribers?" + urlencode({"done": "enabled", "sub": subscriber}))


@action
async def replay(request: web.Request) -> web.Response:
    """Re-send the subscriber's dead letters, as ``newsalert deliveries replay`` does."""
    settings = request.app[STATE].settings
    subscriber = request.match_info["id"]
    try:
        dead = await history.dead_of(settings, subscriber)
        count = await history.replay(settings, dead)
    except TransientError as exc:
        return render(request, "refused.html", {"reason": f"the replay failed: {exc}"}, status=503)
    log.info("console: replayed %d dead alert(s) of %s", count, subscriber)
    raise web.HTTPSeeOther("/console/subscribers?" + urlencode({"done": "replayed", "sub": subscriber, "n": count}))
