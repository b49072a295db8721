"""The console's pages (GET): overview, subscribers, attempts, alerts, rules, rule tester.

Each page reads what it shows when it is asked (bounded reads, see ``readers``); a read that fails
shows as an error on the page instead of failing the page, so a broker problem is visible.
"""

from __future__ import annotations

import time
from typing import Any, Awaitable, Callable

from aiohttp import web
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from newsalert.adapters.consumer_lag import group_lags
from newsalert.adapters.delivery_history import attempts_of
from newsalert.domain.backtest import backtest, segments
from newsalert.errors import QuerySyntaxError, TransientError
from newsalert.services.api.console import readers
from newsalert.services.api.console.access import page, render
from newsalert.services.api.console.health import check_all, parse_health_urls
from newsalert.services.api.console.running import compile_query, query_error, running
from newsalert.services.api.console.state import CONSOLE
from newsalert.services.api.state import STATE

ALERTS_SHOWN = 100
QUERY_MAX_CHARS = 4_000


async def _try(read: Callable[[], Awaitable[Any]], problems: list[str], what: str) -> Any:
    """``await read()``, or None with the reason added to ``problems`` when the broker failed us."""
    try:
        return await read()
    except (TransientError, KafkaError, OSError) as exc:
        problems.append(f"{what}: {exc}")
        return None


async def _running(request: web.Request, problems: list[str]):
    """The running rule set (None with a problem noted); its snapshot is kept for the tester's check."""
    current = await _try(lambda: running(request.app[STATE].settings), problems, "rule set")
    if current is not None:
        request.app[CONSOLE].snapshot = current.snapshot
    return current


@page
async def overview(request: web.Request) -> web.Response:
    """Consumer lag, the last hour's deliveries, the rule-set version, the API's own readiness."""
    settings = request.app[STATE].settings
    problems: list[str] = []
    groups = [settings.group("matcher"), settings.group("notifier")]
    lags = await _try(lambda: group_lags(settings, groups), problems, "consumer lag")
    hour = await _try(lambda: readers.last_hour(settings), problems, "last hour's deliveries")
    current = await _running(request, problems)
    targets, bad = parse_health_urls(settings.console_health_urls)
    problems.extend(bad)
    services = await check_all(targets)
    window = request.app[CONSOLE].window
    api = request.app[STATE]
    return render(request, "overview.html", {
        "lags": lags, "hour": hour, "running": current, "problems": problems, "services": services,
        "api_ready": api.view is not None, "api_problem": api.problem,
        "window_size": len(window.items), "window_age": time.monotonic() - window.read_at if window.read_at else None,
    })


@page
async def subscribers(request: web.Request) -> web.Response:
    """Every subscriber (rule file and API) with state, success rate, last attempt, dead letters."""
    settings = request.app[STATE].settings
    problems: list[str] = []
    current = await _running(request, problems)
    health = await _try(lambda: readers.delivery_health(settings), problems, "delivery records") or {}
    rows = _subscriber_rows(current, health)
    done = {key: request.query.get(key, "") for key in ("done", "sub", "n")}
    return render(request, "subscribers.html", {"rows": rows, "problems": problems, "done": done})


def _subscriber_rows(current, health: dict) -> list[dict]:
    """One row per subscriber known to the rule set, the subscriptions or the delivery records."""
    ids: dict[str, dict] = {}
    if current is not None and current.snapshot is not None:
        for sub in current.snapshot.subscribers:
            ids[sub.id] = {"id": sub.id, "url": sub.url, "origin": "rule file", "pending": None}
    for record in (current.subscriptions.values() if current else ()):
        ids[record.id] = {"id": record.id, "url": record.subscriber.url, "origin": "API",
                          "pending": record.reason or "pending" if record.status == "pending" else None}
    for sub_id in health:
        ids.setdefault(sub_id, {"id": sub_id, "url": "", "origin": "delivery records only", "pending": None})
    rows = []
    for sub_id, row in sorted(ids.items()):
        h = health.get(sub_id, readers.Health())
        rows.append({**row, "health": h, "state": _state_of(row, h)})
    return rows


def _state_of(row: dict, h: readers.Health) -> str:
    """active, pending verification, disabled by 410, or breaker open (its last attempt was held back)."""
    if h.state is not None and h.state.status == "disabled":
        return "disabled by 410"
    if row["pending"]:
        return "pending verification"
    if h.last is not None and h.last.outcome == "circuit_open":
        return "breaker open"
    return "active"


@page
async def attempts(request: web.Request) -> web.Response:
    """One subscriber's delivery attempts, newest first (of one alert with ``?webhook_id=``)."""
    settings = request.app[STATE].settings
    subscriber = request.match_info["id"]
    webhook = request.query.get("webhook_id", "")
    problems: list[str] = []
    found = await _try(lambda: attempts_of(settings, subscriber, None), problems, "delivery attempts") or []
    if webhook:
        found = [a for a in found if a.webhook_id == webhook]
    return render(request, "attempts.html", {"subscriber": subscriber, "webhook_id": webhook, "attempts": found[:200], "problems": problems})


@page
async def alerts(request: web.Request) -> web.Response:
    """The newest alerts, filtered by subscriber and rule, matched terms highlighted."""
    settings = request.app[STATE].settings
    subscriber, rule = request.query.get("subscriber", ""), request.query.get("rule", "")
    problems: list[str] = []
    found = await _try(lambda: readers.recent_alerts(settings, subscriber, rule, ALERTS_SHOWN), problems, "alerts")
    shown, seen = found if found else ([], {})
    items = [{"alert": a, "title": _hl(a.article.title or "", a, "title"), "excerpt": _hl(a.article.excerpt, a, "body")} for a in shown]
    return render(request, "alerts.html", {
        "items": items, "problems": problems, "subscriber": subscriber, "rule": rule,
        "subscribers": sorted({s for s, _ in seen}), "rules": sorted({r for _, r in seen}),
        "per_partition": settings.console_recent_alerts,
    })


def _hl(text: str, alert, field: str) -> list:
    """``text`` with the alert's highlights of ``field`` marked (offsets into the cleaned field)."""
    return segments(text, [(h.start, h.end) for h in alert.highlights if h.field == field])


@page
async def rules(request: web.Request) -> web.Response:
    """The running rule set and, when the rule file's last change was refused, its problems."""
    problems: list[str] = []
    current = await _running(request, problems)
    return render(request, "rules.html", {"running": current, "problems": problems})


@page
async def tester(request: web.Request) -> web.Response:
    """Type a query or pick a rule; back-test it on the newest articles of the articles topic."""
    settings = request.app[STATE].settings
    query = request.query.get("query", "")[:QUERY_MAX_CHARS]
    picked = request.query.get("rule", "")
    problems: list[str] = []
    current = await _running(request, problems)
    snapshot = current.snapshot if current else None
    context: dict[str, Any] = {"query": query, "picked": picked, "problems": problems, "running": current,
                               "error": None, "result": None, "rule": None, "window_max": settings.console_backtest_articles}
    rule = current.rule(picked) if (current and picked and not query) else None
    if rule is None and query.strip():
        try:
            rule = compile_query(query, snapshot)
        except QuerySyntaxError as exc:
            context["error"] = exc
        except (ValidationError, ValueError) as exc:
            problems.append(f"query: {exc}")
    elif picked and rule is None and not query:
        problems.append(f"no running rule {picked!r}")
    if rule is not None:
        window = await _try(request.app[CONSOLE].window.get, problems, "articles")
        if window is not None:
            context["result"] = backtest(rule, window)
        context["rule"] = rule
        context["query"] = context["query"] or rule.query
    return render(request, "tester.html", context)


@page
async def check_query(request: web.Request) -> web.Response:
    """JSON for the tester's as-you-type check: ``ok``, or the message, column and caret excerpt."""
    query = request.query.get("query", "")[:QUERY_MAX_CHARS]
    # The term lists (@name) of the rule set the last page read: no topic read per keystroke.
    error = query_error(query, request.app[CONSOLE].snapshot) if query.strip() else None
    if error is None:
        return web.json_response({"ok": True})
    return web.json_response({"ok": False, "message": error.message, "column": error.column, "excerpt": error.excerpt()})
