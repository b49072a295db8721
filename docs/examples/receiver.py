"""A newsalert webhook receiver: verifies the Standard Webhooks signature, drops duplicates.

Self-contained (Python 3.9+, aiohttp and the standard library only) so it can be copied into a
subscriber's code base. ``docs/webhooks.md`` explains it; ``tests/unit/test_webhook_receiver_example.py``
runs it against requests signed by newsalert's own signer, so it cannot silently go stale.

Run it::

    WEBHOOK_SECRET=whsec_... python docs/examples/receiver.py --port 8787

Rules it follows:

- verify before parsing: the signature covers ``{webhook-id}.{webhook-timestamp}.{raw body}``,
  so the raw bytes are checked first and JSON is parsed only afterwards;
- refuse a timestamp more than 5 minutes away from our clock (replay protection);
- accept the request if ANY ``v1`` signature matches ANY of our secrets (during a secret
  rotation newsalert sends one signature per secret; the receiver may know the old, the new or
  both);
- de-duplicate on ``webhook-id``: delivery is at least once, so the same alert can arrive twice
  (after a timeout, a crash, a replay); answer 2xx to a duplicate without handling it again;
- answer quickly (2xx within the sender's timeout) and do slow work afterwards.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import time
from collections import OrderedDict
from typing import Iterable, Mapping, Optional

TOLERANCE_S = 5 * 60


class InvalidSignature(Exception):
    """The request was not signed by the holder of our secret (or is too old or malformed)."""


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret: the base64-decoded part after ``whsec_``."""
    encoded = secret[len("whsec_"):] if secret.startswith("whsec_") else secret
    return base64.b64decode(encoded + "=" * (-len(encoded) % 4))


def verify_signature(
    secrets: Iterable[str],
    headers: Mapping[str, str],
    body: bytes,
    now: Optional[float] = None,
    tolerance: float = TOLERANCE_S,
) -> str:
    """Check the ``webhook-*`` headers against ``body``; return the webhook id if valid.

    ``headers`` may use any letter case. Raises ``InvalidSignature`` otherwise.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    msg_id = lowered.get("webhook-id")
    timestamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not (msg_id and timestamp and signatures):
        raise InvalidSignature("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise InvalidSignature("webhook-timestamp is not an integer") from None
    if abs((time.time() if now is None else now) - sent_at) > tolerance:
        raise InvalidSignature("webhook-timestamp is outside the tolerance")

    signed = f"{msg_id}.{sent_at}.".encode() + body
    offered = []
    for entry in signatures.split():  # "v1,<b64> v1,<b64>": one entry per sender secret
        version, _, value = entry.partition(",")
        if version == "v1":
            try:
                offered.append(base64.b64decode(value, validate=True))
            except (binascii.Error, ValueError):
                continue  # a malformed entry is skipped; another one may match
    for secret in secrets:
        expected = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
        if any(hmac.compare_digest(expected, candidate) for candidate in offered):
            return msg_id
    raise InvalidSignature("no signature matches")


class SeenIds:
    """The webhook ids handled recently, bounded (oldest forgotten first).

    In production keep them where your handling commits (a table with a unique key on the id,
    written in the same transaction as the work), so a crash cannot split the two.
    """

    def __init__(self, capacity: int = 100_000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity

    def first_time(self, msg_id: str) -> bool:
        """True the first time ``msg_id`` is seen, False for a duplicate."""
        if msg_id in self._ids:
            self._ids.move_to_end(msg_id)
            return False
        self._ids[msg_id] = None
        if len(self._ids) > self._capacity:
            self._ids.popitem(last=False)
        return True


def handle_alert(alert: dict) -> None:
    """Your code: here the alert is only printed."""
    print(f"{alert['rule']['id']}: {alert['article']['title']} <{alert['article']['url']}>")


def alerts_of(event: dict) -> list:
    """The alerts of a webhook body: the alert itself, or those a batch or digest lists."""
    return event["alerts"] if event.get("type") in ("batch", "digest") else [event]


def create_app(secrets: list[str], seen: Optional[SeenIds] = None):
    """An aiohttp application answering ``POST /`` (and any path) with the rules above."""
    from aiohttp import web

    seen = seen if seen is not None else SeenIds()

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            msg_id = verify_signature(secrets, request.headers, body)
        except InvalidSignature as exc:
            return web.json_response({"error": str(exc)}, status=401)
        if not seen.first_time(msg_id):
            return web.json_response({"duplicate": msg_id}, status=200)
        event = json.loads(body)
        for alert in alerts_of(event):  # an alert may come alone and again in a batch or digest
            if alert is event or seen.first_time(alert["webhook_id"]):
                handle_alert(alert)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/{tail:.*}", receive)
    return app


def main() -> None:
    import argparse

    from aiohttp import web

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787)
    args = parser.parse_args()
    # Two secrets during a rotation: WEBHOOK_SECRET="whsec_old whsec_new".
    secrets = os.environ["WEBHOOK_SECRET"].split()
    web.run_app(create_app(secrets), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
