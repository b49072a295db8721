"""Who may see a console page, and how every page is answered.

A request is signed in when it carries a valid session cookie (``session.Sessions``) or
``Authorization: Bearer <API token>``. A page asked for without either is answered 401 with the
sign-in form and nothing else. A state-changing POST signed in by cookie must carry the session's
CSRF token; one signed in by the bearer header needs none (a browser never adds that header to a
cross-site request).

Every console answer is HTML from a Jinja2 template with autoescaping, and carries a Content
Security Policy that allows scripts and styles from the console itself only (no inline script),
so text that slipped past escaping still could not run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable

import aiohttp_jinja2
from aiohttp import web

from newsalert.services.api.console.session import COOKIE, Session, Sessions
from newsalert.services.api.console.state import CONSOLE

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class Visitor:
    """A signed-in request: its session (None when signed in by the bearer header)."""

    session: Session | None

    @property
    def by_bearer(self) -> bool:
        return self.session is None


def visitor(request: web.Request) -> Visitor | None:
    """The request's sign-in, or None."""
    sessions: Sessions = request.app[CONSOLE].sessions
    if sessions.open:
        return Visitor(Session(0, "open"))
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and given.strip() and sessions.token_matches(given):
        return Visitor(None)
    session = sessions.check(request.cookies.get(COOKIE))
    return Visitor(session) if session else None


def render(request: web.Request, template: str, context: dict[str, Any], status: int = 200) -> web.Response:
    """The template rendered (autoescaped) with the console's common context and headers."""
    who = visitor(request)
    sessions: Sessions = request.app[CONSOLE].sessions
    base = {
        "signed_in": who is not None,
        "csrf": sessions.csrf(who.session) if who and who.session else "",
        "path": request.path,
    }
    response = aiohttp_jinja2.render_template(template, request, {**base, **context}, status=status)
    response.headers.update(SECURITY_HEADERS)
    return response


def signin_page(request: web.Request, message: str = "", status: int = 401) -> web.Response:
    """The sign-in form (and nothing else), returning to the asked page afterwards."""
    target = request.path if request.method == "GET" else "/console/overview"
    return render(request, "signin.html", {"next": target, "message": message}, status=status)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def page(handler: Handler) -> Handler:
    """A GET page: the sign-in form instead for a request that is not signed in."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        if visitor(request) is None:
            return signin_page(request)
        return await handler(request)

    guarded.__doc__ = handler.__doc__
    return guarded


def action(handler: Handler) -> Handler:
    """A state-changing POST: signed in, and with the session's CSRF token unless by bearer."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        who = visitor(request)
        if who is None:
            return signin_page(request)
        if not who.by_bearer:
            form = await request.post()
            if not request.app[CONSOLE].sessions.csrf_ok(who.session, str(form.get("csrf", ""))):
                return render(request, "refused.html", {"reason": "the form's CSRF token is missing or wrong; nothing was changed"}, status=403)
        return await handler(request)

    guarded.__doc__ = handler.__doc__
    return guarded
