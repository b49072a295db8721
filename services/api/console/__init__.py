"""The operator console: server-rendered HTML pages under ``/console`` of the subscription API.

``install(app)`` adds the pages, the sign-in and the static files (one stylesheet, one small
script) to the API's application. Templates are Jinja2 with autoescaping (aiohttp-jinja2); no
page loads anything from another origin. See docs/console.md.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from newsalert.config import Settings
from newsalert.services.api.console import actions, pages
from newsalert.services.api.console.readers import ArticleWindow
from newsalert.services.api.console.session import Sessions
from newsalert.services.api.console.state import CONSOLE, ConsoleState

PREFIX = "/console"
_HERE = Path(__file__).parent


def install(app: web.Application, settings: Settings) -> None:
    """Add the console to ``app`` (its own sign-in: see ``access``)."""
    app[CONSOLE] = ConsoleState(Sessions(settings), ArticleWindow(settings))
    env = aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(_HERE / "templates"), autoescape=True, default_helpers=False)
    env.filters["pct"] = lambda value: "–" if value is None else f"{value * 100:.0f} %"
    env.filters["when"] = lambda value: "–" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")
    add = app.router.add_route
    add("GET", PREFIX, _home, name="console")
    add("GET", f"{PREFIX}/", _home, name="console.home")
    add("GET", f"{PREFIX}/signin", actions.signin_form, name="console.signin_form")
    add("POST", f"{PREFIX}/signin", actions.signin, name="console.signin")
    add("POST", f"{PREFIX}/signout", actions.signout, name="console.signout")
    add("GET", f"{PREFIX}/overview", pages.overview, name="console.overview")
    add("GET", f"{PREFIX}/subscribers", pages.subscribers, name="console.subscribers")
    add("GET", f"{PREFIX}/subscribers/{{id}}/attempts", pages.attempts, name="console.attempts")
    add("POST", f"{PREFIX}/subscribers/{{id}}/enable", actions.enable, name="console.enable")
    add("POST", f"{PREFIX}/subscribers/{{id}}/replay", actions.replay, name="console.replay")
    add("GET", f"{PREFIX}/alerts", pages.alerts, name="console.alerts")
    add("GET", f"{PREFIX}/rules", pages.rules, name="console.rules")
    add("GET", f"{PREFIX}/tester", pages.tester, name="console.tester")
    add("GET", f"{PREFIX}/tester/check", pages.check_query, name="console.check")
    app.router.add_static(f"{PREFIX}/static", _HERE / "static", name="console.static")


async def _home(request: web.Request) -> web.Response:
    raise web.HTTPSeeOther(f"{PREFIX}/overview")
