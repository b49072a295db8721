"""A subscription created over the HTTP API takes effect in the running pipeline: the API verifies
the webhook (challenge echo), stores the subscription on the `rules` topic, the matcher merges its
inline query, and the notifier delivers the alert signed with the secret the API returned once.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest
from tests.support import OTHER_SECRET as SECRET  # the YAML subscriber's key
from standardwebhooks import Webhook

TOKEN = "e2e-test-token-0123456789abcdef"


def _rule_file(path, receiver) -> None:
    path.write_text(
        "subscribers:\n"
        f"  - id: yaml-desk\n    url: {receiver.url('yaml-desk')}\n    secret: {SECRET}\n"
        "rules:\n"
        "  - id: yaml-rule\n    query: Pyongyang\n    notify: [yaml-desk]\n"
    )


def _post(url: str, body: dict, patience: float = 60) -> tuple[int, dict]:
    """POST as a client should: a 503 (the API's broker connection not ready yet, e.g. on a
    brand-new broker) is retried until ``patience`` runs out; any other answer is returned."""
    deadline = time.monotonic() + patience
    while True:
        request = urllib.request.Request(
            url, data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            answer = exc.read().decode(errors="replace")
            if exc.code != 503 or time.monotonic() > deadline:
                return exc.code, {"error": answer}
            time.sleep(1)


@pytest.mark.kafka
def test_an_api_subscription_receives_signed_alerts_from_the_running_pipeline(pipeline, receiver, tmp_path):
    rules = tmp_path / "rules.yaml"
    _rule_file(rules, receiver)
    pipeline.env["NEWSALERT_API_TOKEN"] = TOKEN
    pipeline.start("matcher", "--rules", str(rules))
    pipeline.start("notifier", "--rules", str(rules))
    api = pipeline.start("api", "--rules", str(rules))
    api_url = api.health_url.rsplit("/", 1)[0]

    status, created = _post(f"{api_url}/subscriptions", {"url": receiver.url("api-desk"), "queries": ['"North Korea" AND missile*']})
    assert status == 201 and created["status"] == "active", created
    subscription_id, secret = created["id"], created["secret"]

    # The matcher and the notifier pick the subscription up from the rules topic within seconds:
    # publish a fresh matching article every few seconds until the first alert arrives.
    deadline = time.monotonic() + 90
    alerts = []
    n = 0
    while time.monotonic() < deadline and not alerts:
        n += 1
        articles = tmp_path / f"a{n}.jsonl"
        articles.write_text(json.dumps({"id": f"api-e2e-{n}", "title": "North Korea test-fires missiles", "body": "Seen from Pyongyang."}) + "\n")
        pipeline.cli("replay", str(articles))
        wait_until = time.monotonic() + 4
        while time.monotonic() < wait_until and not alerts:
            alerts = [r for r in receiver.snapshot() if r.path.endswith("/api-desk")]
            time.sleep(0.25)
    assert alerts, "no alert reached the API subscription's webhook within 90 s"

    alert = alerts[0]
    Webhook(secret).verify(alert.body, alert.headers)  # signed with the secret the API returned once
    payload = alert.payload
    assert payload["subscriber"] == subscription_id
    assert payload["rule"]["id"].startswith(f"{subscription_id}/")
    assert payload["rule"]["query"] == '"North Korea" AND missile*'
    # The YAML subscriber keeps working beside it.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(r.path.endswith("/yaml-desk") for r in receiver.snapshot()):
        time.sleep(0.25)
    assert any(r.path.endswith("/yaml-desk") for r in receiver.snapshot()), (
        "the YAML rule stopped matching once the API subscription was merged"
    )
