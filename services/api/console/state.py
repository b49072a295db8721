"""What the console keeps between requests: the session signer and the back-test article window."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from newsalert.schemas.rules_feed import RuleSetSnapshot
from newsalert.services.api.console.readers import ArticleWindow
from newsalert.services.api.console.session import Sessions


@dataclass
class ConsoleState:
    """One per application."""

    sessions: Sessions
    window: ArticleWindow
    snapshot: RuleSetSnapshot | None = None  # the rule set a page read last (its term lists)


CONSOLE = web.AppKey("console_state", ConsoleState)
