"""The operator console in a real browser (Debian's chromium via chromium-driver and selenium)
against a real pipeline run: matcher, notifier and API as processes on the real broker, a real
webhook receiver, the seed articles and an article whose title is markup.

The receiver fails every POST at first (HTTP 500, one retry after 1 s), so alerts are
dead-lettered; it then accepts, and a replay from the Subscribers page must arrive at it.

Set ``NEWSALERT_CONSOLE_SCREENSHOTS=DIR`` to save a screenshot of every page at laptop and phone
width (how docs/console/ was made).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from pathlib import Path

import pytest
import requests
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from newsalert.adapters.processes import free_port
from tests.e2e.conftest import REPO
from tests.integration.topic_reader import read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]

TOKEN = "console-e2e-token-0123456789abcdef"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # test-only key
LAPTOP, PHONE = (1280, 900), (390, 844)
PAGES = ("overview", "subscribers", "alerts", "rules", "tester")


def _rule_file(path: Path, receiver) -> None:
    path.write_text(
        "subscribers:\n"
        f"  - id: desk\n    url: {receiver.url('desk')}\n    secret: {SECRET}\n"
        "rules:\n"
        "  - id: nk-missiles\n    query: '\"North Korea\" AND missile*'\n    notify: [desk]\n"
        "    description: '<script>alert(2)</script><b>markup</b> stays text'\n"
        "  - id: zelensky\n    query: title:Zelensky\n    notify: [desk]\n"
    )


def _browser() -> webdriver.Chrome:
    """Headless Debian chromium; fails (never skips) when it is not installed."""
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not binary or not driver:
        pytest.fail("chromium and chromium-driver are needed (apt-get install -y chromium chromium-driver; .ci/run does it)", pytrace=False)
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"):
        options.add_argument(arg)
    browser = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    browser.set_window_size(*LAPTOP)
    return browser


def _no_dialog(browser: webdriver.Chrome) -> None:
    try:
        text = browser.switch_to.alert.text
    except NoAlertPresentException:
        return
    raise AssertionError(f"a page opened a JavaScript dialog: {text!r}")


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"{what} within {timeout:g} s")


def _dead_count(api_url: str, subscriber: str) -> int:
    html = requests.get(f"{api_url}/console/subscribers", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60).text
    row = html.split(f'<tr data-subscriber="{subscriber}">', 1)[-1].split("</tr>", 1)[0]
    marker = 'class="dead">'
    return int(row.split(marker, 1)[1].split("<", 1)[0].split()[0]) if marker in row else 0


def _screenshots(browser: webdriver.Chrome, base: str) -> None:
    folder = os.environ.get("NEWSALERT_CONSOLE_SCREENSHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    for width, size in (("laptop", LAPTOP), ("phone", PHONE)):
        browser.set_window_size(*size)
        for page in PAGES:
            query = "?query=%22North+Korea%22+AND+missile*" if page == "tester" else ""
            browser.get(f"{base}/console/{page}{query}")
            browser.save_screenshot(str(Path(folder) / f"{page}-{width}.png"))
    browser.set_window_size(*LAPTOP)


def test_the_console_in_a_browser_against_a_pipeline_run(pipeline, receiver, tmp_path):
    rules = tmp_path / "rules.yaml"
    _rule_file(rules, receiver)
    articles = tmp_path / "articles.jsonl"
    # The raw markup title is stripped by cleaning; the entity-encoded one is decoded once (by the
    # replay command; the matcher keeps what the producer cleaned) and reaches the pages as markup text.
    raw = {"id": "xss-0", "title": "<img src=x onerror=alert(1)> North Korea missile raw", "body": "North Korea missile.",
           "published": "2024-03-29T08:00:00Z"}
    xss = {"id": "xss-1", "title": "&lt;img src=x onerror=alert(1)&gt; North Korea missile launch",
           "body": "North Korea fired a missile &lt;script&gt;alert(3)&lt;/script&gt; today.", "published": "2024-03-30T08:00:00Z"}
    articles.write_text((REPO / "seeds" / "test_stream.jsonl").read_text() + json.dumps(raw) + "\n" + json.dumps(xss) + "\n")
    pipeline.env.update({
        "NEWSALERT_API_TOKEN": TOKEN, "NEWSALERT_RETRY_SCHEDULE": "1", "NEWSALERT_RETRY_THROTTLE_FLOOR": "0",
        "NEWSALERT_BREAKER_THRESHOLD": "1000", "NEWSALERT_CONSOLE_BACKTEST_REFRESH": "1",
    })
    receiver.status = 500
    matcher = pipeline.start("matcher", "--rules", str(rules))
    notifier = pipeline.start("notifier", "--rules", str(rules))
    pipeline.env["NEWSALERT_CONSOLE_HEALTH_URLS"] = (
        f"matcher={matcher.health_url}, notifier={notifier.health_url}, gone=http://127.0.0.1:{free_port()}/healthz"
    )
    api = pipeline.start("api", "--rules", str(rules))
    base = api.health_url.rsplit("/", 1)[0]
    pipeline.cli("replay", str(articles))
    dead = _wait_for(lambda: _dead_count(base, "desk"), 120, "no alert of desk was dead-lettered")

    browser = _browser()
    try:
        # Without a session: the sign-in form and no data.
        browser.get(f"{base}/console/subscribers")
        assert browser.find_elements(By.ID, "signin") and not browser.find_elements(By.ID, "subscribers")
        assert "desk" not in browser.find_element(By.TAG_NAME, "main").text
        browser.find_element(By.ID, "token").send_keys(TOKEN)
        browser.find_element(By.CSS_SELECTOR, "#signin button").click()
        WebDriverWait(browser, 30).until(ec.presence_of_element_located((By.ID, "subscribers")))

        # Every page shows this run's data.
        browser.get(f"{base}/console/overview")
        assert int(browser.find_element(By.ID, "hour-dead").text) >= dead
        assert browser.find_element(By.ID, "ruleset-version").text
        health = {row.get_attribute("data-service"): row.find_element(By.TAG_NAME, "td").text for row in browser.find_elements(By.CSS_SELECTOR, "tr.service")}
        assert health["matcher"].startswith("up") and health["notifier"].startswith("up") and health["gone"].startswith("down")
        browser.get(f"{base}/console/alerts")
        alerts = browser.find_element(By.ID, "alerts")
        assert "<img src=x onerror=alert(1)> North Korea missile launch" in alerts.text
        assert not alerts.find_elements(By.TAG_NAME, "img") and not alerts.find_elements(By.TAG_NAME, "script")
        assert "North Korea" in [m.text for m in alerts.find_elements(By.TAG_NAME, "mark")]
        _no_dialog(browser)
        browser.get(f"{base}/console/rules")
        rules_table = browser.find_element(By.ID, "rules")
        assert "nk-missiles" in rules_table.text and "<script>alert(2)</script><b>markup</b> stays text" in rules_table.text
        assert not rules_table.find_elements(By.TAG_NAME, "b")
        _no_dialog(browser)

        # The rule tester: a located error while typing, then the back-test with highlights.
        browser.get(f"{base}/console/tester")
        box = browser.find_element(By.ID, "query")
        box.send_keys("(missile")
        error = browser.find_element(By.ID, "query-error")
        WebDriverWait(browser, 30).until(lambda _: error.is_displayed() and "^" in error.text)
        assert error.text.startswith("column 1:") and error.text.splitlines()[-2:] == ["(missile", "^"]
        box.clear()
        box.send_keys('"North Korea" AND missile*')
        WebDriverWait(browser, 30).until(lambda _: not error.is_displayed())
        browser.find_element(By.CSS_SELECTOR, "#tester button").click()
        count = WebDriverWait(browser, 60).until(ec.presence_of_element_located((By.ID, "match-count")))
        assert int(count.text) >= 2
        seed = [m for m in browser.find_elements(By.CSS_SELECTOR, "#matches li") if "ts-001" in m.text]
        assert seed and "North Korea" in [m.text for m in seed[0].find_elements(By.TAG_NAME, "mark")]
        assert browser.find_element(By.ID, "per-day").text
        _no_dialog(browser)

        # A form posted without its CSRF token changes nothing.
        receiver.status = 204
        settings_topic = pipeline.env["NEWSALERT_TOPIC_PREFIX"] + "matches"
        bootstrap = pipeline.env["NEWSALERT_KAFKA_BOOTSTRAP"]
        before = len(asyncio.run(read_topic(bootstrap, settings_topic, 100_000, timeout=3)))
        browser.get(f"{base}/console/subscribers")
        form = browser.find_element(By.CSS_SELECTOR, '[data-subscriber="desk"] form')
        browser.execute_script("arguments[0].querySelector('input[name=csrf]').value = ''", form)
        form.find_element(By.TAG_NAME, "button").click()
        WebDriverWait(browser, 30).until(ec.presence_of_element_located((By.ID, "refused")))
        assert len(asyncio.run(read_topic(bootstrap, settings_topic, before + 1, timeout=3))) == before  # replay answers after its acks

        # The real replay arrives at the receiver.
        browser.get(f"{base}/console/subscribers")
        browser.find_element(By.CSS_SELECTOR, '[data-subscriber="desk"] button.replay').click()
        notice = WebDriverWait(browser, 60).until(ec.presence_of_element_located((By.ID, "notice")))
        assert notice.text.startswith("Replayed ") and "of desk" in notice.text
        _wait_for(lambda: any(r.path.endswith("/desk") for r in receiver.snapshot()), 60, "no replayed alert reached the receiver")

        # Readable at phone width: the page itself never scrolls sideways (tables scroll in their box).
        browser.set_window_size(*PHONE)
        for page in PAGES:
            browser.get(f"{base}/console/{page}")
            assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1"), page
        browser.set_window_size(*LAPTOP)
        _screenshots(browser, base)

        # Signed out (cookie gone): no data again.
        browser.delete_all_cookies()
        browser.get(f"{base}/console/alerts")
        assert browser.find_elements(By.ID, "signin") and not browser.find_elements(By.ID, "alerts")
    finally:
        browser.quit()
