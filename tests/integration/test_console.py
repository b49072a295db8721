"""The operator console over real HTTP against the real broker, with records the test publishes.

One API (in a background loop, as in test_api.py) on a fresh topic prefix. The test publishes what
the services would have written: a rule-set snapshot of a rule file on disk, articles (seeds and an
article whose title is markup), alerts, delivery attempts, dead letters and a disabled
subscriber. Each page must show that data, only to a signed-in request; state-changing forms
must carry the session's CSRF token; the actions write to the topics the notifier reads.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from aiokafka import AIOKafkaProducer

from newsalert.domain.articles import parse_article
from newsalert.domain.alerts import new_alert, wire_highlights
from newsalert.domain.live_rules import snapshot_of
from newsalert.domain.matching import Engine, prepare
from newsalert.adapters.rule_files import load_rule_file
from newsalert.schemas import Alert, DeadDelivery, DeliveryAttempt, SubscriberState
from newsalert.schemas.rules_feed import ruleset_key
from newsalert.services.api.console.session import COOKIE
from tests.integration.test_api import TOKEN, LoopThread, api_settings, start_api
from tests.integration.topic_reader import read_topic
from tests.support import OTHER_SECRET as SECRET

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parents[2]
XSS_TITLE = "&lt;img src=x onerror=alert(1)&gt; North Korea missile launch"  # decoded by cleaning: markup text
RULES = f"""
lists:
  korea: ['"North Korea"', DPRK]
subscribers:
  - id: desk
    url: https://hooks.example.org/desk
    secret: {SECRET}
  - id: down
    url: https://hooks.example.org/down
    secret: {SECRET}
  - id: gone
    url: https://hooks.example.org/gone
    secret: {SECRET}
rules:
  - id: nk-missiles
    query: '"North Korea" AND missile*'
    notify: [desk, down]
    description: '<script>alert(2)</script><b>markup</b> in a description'
  - id: climate
    query: climate
    notify: [gone]
"""


def _articles() -> list[dict]:
    seeds = [json.loads(line) for line in (REPO / "seeds" / "test_stream.jsonl").read_text().splitlines() if line.strip()]
    xss = {"id": "xss-1", "title": XSS_TITLE, "body": "North Korea fired a missile &lt;script&gt;alert(3)&lt;/script&gt; today.",
           "source": "Markup Wire", "published": "2024-03-30T08:00:00Z"}
    return seeds + [xss]


def _alerts(rule_set, articles: list[dict]) -> list[Alert]:
    """The alerts the matcher would publish for ``articles`` (same engine, same cleaning)."""
    engine = Engine(list(rule_set.rules))
    by_id = {rule.id: rule for rule in rule_set.rules}
    out = []
    now = datetime.now(timezone.utc)
    for raw in articles:
        article = parse_article(raw)
        for match in engine.match(prepare(article.title, article.body, article.source, cleaned=True)):
            rule = by_id[match.rule_id]
            for sub in rule.notify:
                out.append(new_alert(article, rule.id, rule.query, sub, wire_highlights(match),
                                     ruleset_version=rule_set.version, matched_at=now))
    return out


async def _publish(bootstrap: str, records: list[tuple[str, bytes | None, bytes | None]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=8 * 1024 * 1024)
    await producer.start()
    try:
        for topic, key, value in records:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


@pytest.fixture(scope="module")
def console(kafka_bootstrap: str, tmp_path_factory):
    """A running API with the test's records published; yields (settings, url, data)."""
    loop = LoopThread()
    settings = api_settings(kafka_bootstrap, f"t-{uuid.uuid4().hex[:8]}-", console_backtest_refresh=0.5)
    api = start_api(loop, settings)  # creates the topics
    rule_path = tmp_path_factory.mktemp("console") / "rules.yaml"
    rule_path.write_text(RULES)
    rule_set = load_rule_file(rule_path)
    articles = _articles()
    alerts = _alerts(rule_set, articles)
    down = [a for a in alerts if a.subscriber == "down"]
    desk = [a for a in alerts if a.subscriber == "desk"]
    now = datetime.now(timezone.utc)
    t = settings.topic
    records = [(t("rules"), ruleset_key(), snapshot_of(rule_set).to_json())]
    records += [(t("articles"), a["id"].encode(), json.dumps(a).encode()) for a in articles]
    records += [(t("matches"), a.subscriber.encode(), a.to_json()) for a in alerts]
    for a in desk:
        attempt = DeliveryAttempt(subscriber="desk", webhook_id=a.webhook_id, attempt=1, outcome="delivered", status_code=204, latency_ms=3.0, at=now)
        records.append((t("deliveries.attempts"), b"desk", attempt.to_json()))
    for a in down:
        failed = DeliveryAttempt(subscriber="down", webhook_id=a.webhook_id, attempt=1, outcome="http_error", status_code=500,
                                 latency_ms=2.0, at=now - timedelta(minutes=5), next_attempt_at=now - timedelta(minutes=4))
        last = failed.model_copy(update={"attempt": 2, "at": now - timedelta(minutes=4), "next_attempt_at": None})
        records.append((t("deliveries.attempts"), b"down", failed.to_json()))
        records.append((t("deliveries.attempts"), b"down", last.to_json()))
        dead = DeadDelivery(alert=a, reason="exhausted", attempts=[failed, last], last_error="HTTP 500", dead_at=now - timedelta(minutes=4))
        records.append((t("deliveries.dead"), b"down", dead.to_json()))
    gone = SubscriberState(subscriber="gone", status="disabled", reason="410 Gone from the endpoint", at=now)
    records.append((t("deliveries.subscribers"), b"gone", gone.to_json()))
    loop.run(_publish(kafka_bootstrap, records))
    data = {"rule_path": rule_path, "rule_set": rule_set, "down": down, "desk": desk}
    yield settings, api.url, data
    api.stop()
    loop.close()


def _bearer() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def _signed_in(url: str) -> requests.Session:
    session = requests.Session()
    answer = session.post(f"{url}/console/signin", data={"token": TOKEN, "next": "/console/subscribers"}, allow_redirects=False, timeout=30)
    assert answer.status_code == 303 and answer.headers["Location"] == "/console/subscribers"
    return session


def _unique(alerts: list[Alert]) -> int:
    """Distinct alerts (the seeds hold a copy of one article: same id, same webhook id)."""
    return len({a.webhook_id for a in alerts})


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', html).group(1)


# --- sign-in -------------------------------------------------------------------------------------


def test_sign_in_sets_an_httponly_strict_expiring_cookie(console) -> None:
    _, url, _ = console
    answer = requests.post(f"{url}/console/signin", data={"token": TOKEN}, allow_redirects=False, timeout=30)
    cookie = answer.headers["Set-Cookie"]
    assert answer.status_code == 303
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Max-Age=28800" in cookie and "Path=/console" in cookie
    wrong = requests.post(f"{url}/console/signin", data={"token": TOKEN + "x"}, allow_redirects=False, timeout=30)
    assert wrong.status_code == 401 and "Set-Cookie" not in wrong.headers and "wrong token" in wrong.text


def test_pages_without_cookie_or_token_show_the_sign_in_form_and_no_data(console) -> None:
    _, url, _ = console
    for page in ("overview", "subscribers", "alerts", "rules", "tester?query=missile", "subscribers/down/attempts"):
        for headers, cookies in (({}, {}), ({"Authorization": f"Bearer {TOKEN}x"}, {}), ({}, {COOKIE: "9999999999.forged.00"})):
            answer = requests.get(f"{url}/console/{page}", headers=headers, cookies=cookies, timeout=30)
            assert answer.status_code == 401, page
            assert 'id="signin"' in answer.text
            shown = answer.text.replace(f'value="/console/{page.split("?")[0]}"', "")  # the page to return to
            for data in ("nk-missiles", "down", "North Korea", "desk"):
                assert data not in shown, (page, data)


def test_an_expired_cookie_is_refused(console) -> None:
    settings, url, _ = console
    from newsalert.services.api.console.session import Sessions

    value, _ = Sessions(settings).issue(now=0)  # expired in 1970
    answer = requests.get(f"{url}/console/overview", cookies={COOKIE: value}, timeout=30)
    assert answer.status_code == 401 and 'id="signin"' in answer.text


# --- pages -------------------------------------------------------------------------------------


def test_overview_shows_lag_last_hour_and_version(console) -> None:
    settings, url, data = console
    html = requests.get(f"{url}/console/overview", headers=_bearer(), timeout=60).text
    assert data["rule_set"].version in html
    assert f'id="hour-delivered">{len(data["desk"])}<' in html
    assert f'id="hour-retried">{len(data["down"])}<' in html
    assert f'id="hour-dead">{len(data["down"])}<' in html
    assert settings.group("matcher") in html and settings.group("notifier") in html
    assert "Content-Security-Policy" in requests.get(f"{url}/console/overview", headers=_bearer(), timeout=60).headers


def test_subscribers_show_state_rate_last_attempt_and_dead_letters(console) -> None:
    _, url, data = console
    html = _signed_in(url).get(f"{url}/console/subscribers", timeout=60).text
    rows = {m.group(1): m.group(2) for m in re.finditer(r'<tr data-subscriber="([^"]+)">(.*?)</tr>', html, re.S)}
    assert set(rows) == {"desk", "down", "gone"}
    assert "active" in rows["desk"] and "100 %" in rows["desk"] and "delivered 204" in rows["desk"]
    assert "0 %" in rows["down"] and f'class="dead">{_unique(data["down"])}<' in rows["down"] and "Replay dead letters" in rows["down"]
    assert "disabled by 410" in rows["gone"] and "Re-enable" in rows["gone"]


def test_alerts_newest_first_filtered_with_highlights_and_attempt_links(console) -> None:
    _, url, data = console
    html = requests.get(f"{url}/console/alerts?subscriber=down&rule=nk-missiles", headers=_bearer(), timeout=60).text
    items = re.findall(r'<li class="alert">(.*?)</li>', html, re.S)
    assert len(items) == len(data["down"])
    assert all("to <code>down</code>" in item for item in items)
    assert "<mark>North Korea</mark>" in html
    assert f"attempts?webhook_id={data['down'][-1].webhook_id}" in items[0]  # newest first
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "<img" not in html


def test_rules_show_the_running_set_and_a_refused_change_with_its_caret(console) -> None:
    _, url, data = console
    html = requests.get(f"{url}/console/rules", headers=_bearer(), timeout=60).text
    assert data["rule_set"].version in html and "&#34;North Korea&#34; AND missile*" in html
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html and "<script>alert" not in html
    assert 'id="refused-change"' not in html
    path = data["rule_path"]
    original = path.read_text()
    try:
        path.write_text(original.replace("query: climate", "query: (climate"))
        html = requests.get(f"{url}/console/rules", headers=_bearer(), timeout=60).text
    finally:
        path.write_text(original)
    assert 'id="refused-change"' in html
    problem = re.search(r'<pre class="caret">(.*?)</pre>', html, re.S).group(1)
    assert re.match(rf"{re.escape(str(path))}:\d+:\d+: ", problem)
    assert "(climate" in problem and "^" in problem.splitlines()[-1]


def test_tester_back_tests_a_query_with_highlights_count_and_rate(console) -> None:
    _, url, _ = console
    html = requests.get(f"{url}/console/tester", params={"query": '"North Korea" AND missile*'}, headers=_bearer(), timeout=60).text
    count = int(re.search(r'id="match-count">(\d+)<', html).group(1))
    matches = re.findall(r'<li class="alert match">(.*?)</li>', html, re.S)
    assert count >= 2 and len(matches) == min(count, 50)
    assert any("<code>ts-001</code>" in m and "<mark>North Korea</mark>" in m for m in matches)
    assert re.search(r'id="per-day">\d+\.\d<', html)  # the seeds span weeks: a daily rate
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "<img" not in html and "<script>alert" not in html
    picked = requests.get(f"{url}/console/tester", params={"rule": "climate"}, headers=_bearer(), timeout=60).text
    assert 'id="match-count">' in picked and "climate" in picked


def test_tester_shows_parse_errors_with_a_caret(console) -> None:
    _, url, _ = console
    html = requests.get(f"{url}/console/tester", params={"query": "(missile"}, headers=_bearer(), timeout=60).text
    error = re.search(r'<pre class="caret" id="query-error" role="status">(.*?)</pre>', html, re.S).group(1)
    assert error.startswith("column 1:") and error.endswith("(missile\n^")
    check = requests.get(f"{url}/console/tester/check", params={"query": "North AND (missile"}, headers=_bearer(), timeout=30).json()
    assert check["ok"] is False and check["column"] == 11 and check["excerpt"] == "North AND (missile\n          ^"
    assert requests.get(f"{url}/console/tester/check", params={"query": "missile*"}, headers=_bearer(), timeout=30).json() == {"ok": True}


def test_tester_knows_the_running_sets_term_lists(console) -> None:
    _, url, _ = console
    requests.get(f"{url}/console/rules", headers=_bearer(), timeout=60)  # a page read the rule set
    check = requests.get(f"{url}/console/tester/check", params={"query": "@korea AND missile*"}, headers=_bearer(), timeout=30)
    assert check.json() == {"ok": True}
    unknown = requests.get(f"{url}/console/tester/check", params={"query": "@nowhere AND missile*"}, headers=_bearer(), timeout=30)
    assert unknown.json()["ok"] is False and unknown.json()["column"] == 1
    html = requests.get(f"{url}/console/tester", params={"query": "@korea AND missile*"}, headers=_bearer(), timeout=60).text
    assert int(re.search(r'id="match-count">(\d+)<', html).group(1)) >= 2


# --- actions -------------------------------------------------------------------------------------


def test_a_form_without_its_csrf_token_changes_nothing(console) -> None:
    settings, url, _ = console
    session = _signed_in(url)
    for form in ({}, {"csrf": "0" * 64}):
        answer = session.post(f"{url}/console/subscribers/down/replay", data=form, allow_redirects=False, timeout=30)
        assert answer.status_code == 403 and "CSRF" in answer.text
        answer = session.post(f"{url}/console/subscribers/gone/enable", data=form, allow_redirects=False, timeout=30)
        assert answer.status_code == 403
    states = asyncio.run(read_topic(settings.kafka_bootstrap, settings.topic("deliveries.subscribers"), 2, timeout=3))
    assert [json.loads(r.value)["status"] for r in states] == ["disabled"]
    anonymous = requests.post(f"{url}/console/subscribers/down/replay", timeout=30)
    assert anonymous.status_code == 401


def test_replay_from_the_subscribers_page_republishes_the_dead_letters(console) -> None:
    settings, url, data = console
    session = _signed_in(url)
    csrf = _csrf(session.get(f"{url}/console/subscribers", timeout=60).text)
    before = len(asyncio.run(read_topic(settings.kafka_bootstrap, settings.topic("matches"), 10_000, timeout=3)))
    answer = session.post(f"{url}/console/subscribers/down/replay", data={"csrf": csrf}, allow_redirects=False, timeout=60)
    assert answer.status_code == 303
    page = session.get(f"{url}{answer.headers['Location']}", timeout=60).text
    assert f"Replayed {_unique(data['down'])} dead alert(s) of down." in page
    records = asyncio.run(read_topic(settings.kafka_bootstrap, settings.topic("matches"), before + _unique(data["down"]), timeout=30))
    replayed = [json.loads(r.value)["webhook_id"] for r in records[before:]]
    assert sorted(replayed) == sorted({a.webhook_id for a in data["down"]})  # one per dead alert


def test_re_enable_publishes_the_enabled_state(console) -> None:
    settings, url, _ = console
    answer = requests.post(f"{url}/console/subscribers/gone/enable", headers=_bearer(), allow_redirects=False, timeout=60)
    assert answer.status_code == 303  # by bearer: no CSRF token needed (browsers never send the header cross-site)
    states = asyncio.run(read_topic(settings.kafka_bootstrap, settings.topic("deliveries.subscribers"), 2, timeout=30))
    assert [json.loads(r.value)["status"] for r in states] == ["disabled", "enabled"]
    html = requests.get(f"{url}/console/subscribers", headers=_bearer(), timeout=60).text
    assert "disabled by 410" not in html
