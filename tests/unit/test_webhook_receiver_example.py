"""The receiver example of docs/webhooks.md (docs/examples/receiver.py) against newsalert's own
signer, and the page's example request: if the notifier's signing or body changes, the doc fails
here instead of silently misleading subscribers."""

from __future__ import annotations

import importlib.util
import json
import re
import time
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from standardwebhooks import Webhook

from newsalert.domain.delivery.ids import webhook_id
from newsalert.domain.delivery.signing import signed_headers
from newsalert.schemas.alert import WebhookPayload

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "webhooks.md"
OLD = "whsec_jqKa/frLjjr7/1qzAZgH8OHtWoFZf3Kc"
NEW = "whsec_jsGbmUhWF2CGPbnhiKQ0nINnOYcjz7hn"


def _load_example():
    spec = importlib.util.spec_from_file_location("receiver_example", REPO / "docs" / "examples" / "receiver.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


receiver = _load_example()


def _doc_example() -> tuple[bytes, dict[str, str]]:
    """The body (the first ```json block) and the webhook-* headers shown on the page."""
    text = DOC.read_text()
    body = re.search(r"```json\n(.*?)\n```", text, re.S).group(1).encode()
    headers = dict(re.findall(r"^(webhook-[a-z]+): (\S+)$", text, re.M))
    return body, headers


def test_the_page_example_is_a_real_payload_signed_as_shown():
    body, headers = _doc_example()
    payload = WebhookPayload.model_validate_json(body)
    assert payload.model_dump_json().encode() == body  # exactly what the notifier would send
    assert payload.webhook_id == headers["webhook-id"] == webhook_id(payload.article.id, payload.rule.id, payload.subscriber)
    ts = int(headers["webhook-timestamp"])
    assert signed_headers([OLD], payload.webhook_id, body, timestamp=ts) == headers
    assert receiver.verify_signature([OLD], headers, body, now=ts + 1) == payload.webhook_id


def _signed(secrets, body: bytes, msg_id: str = "msg_abc", ts: int | None = None) -> dict[str, str]:
    return signed_headers(secrets, msg_id, body, timestamp=ts)


def test_verifies_what_the_notifier_signs_and_agrees_with_the_reference_library():
    body = b'{"type":"article.matched","n":1}'
    headers = _signed([OLD], body)
    assert receiver.verify_signature([OLD], headers, body) == "msg_abc"
    Webhook(OLD).verify(body, headers)  # the reference implementation accepts the same request
    assert receiver.verify_signature([OLD], {k.upper(): v for k, v in headers.items()}, body) == "msg_abc"


@pytest.mark.parametrize("known", [[OLD], [NEW], [NEW, OLD]])
def test_rotation_either_secret_verifies(known):
    body = b"{}"
    headers = _signed([OLD, NEW], body)
    assert len(headers["webhook-signature"].split()) == 2
    assert receiver.verify_signature(known, headers, body) == "msg_abc"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda h, b: (h, b + b" "),  # body changed
        lambda h, b: ({**h, "webhook-id": "msg_other"}, b),  # id changed
        lambda h, b: ({**h, "webhook-timestamp": str(int(h["webhook-timestamp"]) + 1)}, b),
        lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b),
        lambda h, b: ({**h, "webhook-signature": "v2," + h["webhook-signature"][3:]}, b),
        lambda h, b: ({**h, "webhook-signature": "v1,!!!notbase64"}, b),
    ],
    ids=["body", "id", "timestamp", "missing", "other-version", "garbage"],
)
def test_tampered_requests_are_refused(mutate):
    body = b'{"a":1}'
    headers, body = mutate(_signed([OLD], body), body)
    with pytest.raises(receiver.InvalidSignature):
        receiver.verify_signature([OLD], headers, body)


def test_wrong_secret_and_stale_timestamp_are_refused():
    body = b"{}"
    with pytest.raises(receiver.InvalidSignature):
        receiver.verify_signature([NEW], _signed([OLD], body), body)
    old = int(time.time()) - 301
    with pytest.raises(receiver.InvalidSignature, match="tolerance"):
        receiver.verify_signature([OLD], _signed([OLD], body, ts=old), body)


def test_seen_ids_are_bounded():
    seen = receiver.SeenIds(capacity=2)
    assert seen.first_time("a") and seen.first_time("b") and not seen.first_time("a")
    assert seen.first_time("c")  # "b" is now the oldest and is forgotten
    assert seen.first_time("b")


async def test_the_app_handles_once_refuses_forgeries(capsys):
    body, _ = _doc_example()
    app = receiver.create_app([NEW, OLD])
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        headers = _signed([OLD], body, msg_id=json.loads(body)["webhook_id"])
        first = await client.post("/hooks/asia-desk", data=body, headers=headers)
        again = await client.post("/hooks/asia-desk", data=body, headers=_signed([OLD], body, msg_id=headers["webhook-id"]))
        forged = await client.post("/hooks/asia-desk", data=body, headers=_signed(["whsec_" + "A" * 43], body))
        assert (first.status, again.status, forged.status) == (204, 200, 401)
        assert (await again.json()) == {"duplicate": headers["webhook-id"]}
    printed = capsys.readouterr().out
    assert printed.count("nk-missiles: North Korea fires two ballistic missiles") == 1


async def test_the_app_handles_each_alert_of_a_batch_once(capsys):
    from newsalert.domain.alerts import new_alert, new_batch
    from newsalert.schemas import Article
    from newsalert.services.notifier.sender import payload_body

    alerts = [new_alert(Article(id=f"a{n}", title=f"Title {n}", url=f"https://news.example/{n}"), "r1", "q", "desk",
                        ruleset_version="v") for n in range(2)]
    batch = new_batch("desk", alerts)
    app = receiver.create_app([OLD])
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        body = payload_body(batch)
        first = await client.post("/hooks/desk", data=body, headers=_signed([OLD], body, msg_id=batch.webhook_id))
        alone = payload_body(alerts[1])  # the same alert again, alone (a redelivery)
        again = await client.post("/hooks/desk", data=alone, headers=_signed([OLD], alone, msg_id=alerts[1].webhook_id))
        assert (first.status, again.status) == (204, 200)
    printed = capsys.readouterr().out
    assert printed.count("r1: Title 0") == 1 and printed.count("r1: Title 1") == 1
