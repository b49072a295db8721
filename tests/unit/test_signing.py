"""Standard Webhooks signing and verification, cross-checked with the reference library.

Also the pure delivery helpers next to it: attempt outcomes and the retry policy.
"""

from __future__ import annotations

import base64
import random
import time
import typing
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from standardwebhooks import Webhook, WebhookVerificationError

from newsalert.domain.delivery import outcome as oc
from newsalert.domain.delivery.retry import RetryPolicy, parse_delays
from newsalert.domain.delivery.signing import (
    SecretFormatError,
    SignatureError,
    secret_key,
    sign,
    signed_headers,
    verify,
)

# The example secret of the Standard Webhooks specification's test vectors.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OTHER_SECRET = "whsec_" + base64.b64encode(b"another key of some length!").decode()


def _theirs_verify(secret: str, headers: dict[str, str], body: bytes) -> None:
    Webhook(secret).verify(body, headers, json_parse=False)


def test_known_vector_from_the_reference_library() -> None:
    """Same id, timestamp and body give exactly the reference library's signature."""
    body = b'{"test": 2432232314}'
    ts = 1614265330
    theirs = Webhook(SPEC_SECRET).sign("msg_p5jXN8AQM9LWM0D4loKWxJek", datetime.fromtimestamp(ts, timezone.utc), body.decode())
    assert sign([SPEC_SECRET], "msg_p5jXN8AQM9LWM0D4loKWxJek", ts, body) == theirs
    assert theirs == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@settings(max_examples=60, deadline=None)
@given(body=st.text(max_size=300).map(str.encode), key=st.binary(min_size=1, max_size=64), msg_id=st.from_regex(r"msg_[a-z0-9]{1,30}", fullmatch=True))
def test_ours_verifies_with_theirs_and_theirs_with_ours(body: bytes, key: bytes, msg_id: str) -> None:
    secret = "whsec_" + base64.b64encode(key).decode()
    headers = signed_headers([secret], msg_id, body)
    _theirs_verify(secret, headers, body)  # raises if they disagree
    theirs = Webhook(secret).sign(msg_id, datetime.now(timezone.utc), body.decode())
    verify([secret], {**headers, "webhook-signature": theirs}, body)


def test_rotation_signs_with_every_secret_and_each_verifies() -> None:
    body = b'{"a":1}'
    headers = signed_headers([SPEC_SECRET, OTHER_SECRET], "msg_x", body)
    entries = headers["webhook-signature"].split(" ")
    assert len(entries) == 2 and all(e.startswith("v1,") for e in entries)
    _theirs_verify(SPEC_SECRET, headers, body)
    _theirs_verify(OTHER_SECRET, headers, body)
    verify([OTHER_SECRET], headers, body)


def test_secret_without_prefix_unpadded_and_secretstr_are_the_same_key() -> None:
    raw = SPEC_SECRET.removeprefix("whsec_")
    assert secret_key(SPEC_SECRET) == secret_key(raw) == secret_key(SecretStr(SPEC_SECRET)) == base64.b64decode(raw)
    unpadded = "whsec_" + base64.b64encode(b"12345").decode().rstrip("=")
    assert secret_key(unpadded) == b"12345"


@pytest.mark.parametrize("bad", ["whsec_", "whsec_!!!notbase64", "", "whsec_Zq9xY"])
def test_bad_secrets_are_refused_without_echoing_them(bad: str) -> None:
    with pytest.raises(SecretFormatError) as info:
        secret_key(bad)
    if len(bad) > len("whsec_"):
        assert bad.removeprefix("whsec_") not in str(info.value)


def test_verify_refuses_tampered_body_wrong_secret_and_wrong_id() -> None:
    body = b'{"a":1}'
    headers = signed_headers([SPEC_SECRET], "msg_x", body)
    with pytest.raises(SignatureError, match="no signature matches"):
        verify([SPEC_SECRET], headers, b'{"a":2}')
    with pytest.raises(SignatureError):
        verify([OTHER_SECRET], headers, body)
    with pytest.raises(SignatureError):
        verify([SPEC_SECRET], {**headers, "webhook-id": "msg_y"}, body)


def test_verify_checks_timestamp_tolerance_both_ways() -> None:
    body = b"{}"
    now = time.time()
    old = signed_headers([SPEC_SECRET], "msg_x", body, timestamp=int(now) - 301)
    with pytest.raises(SignatureError, match="old"):
        verify([SPEC_SECRET], old, body, now=now)
    verify([SPEC_SECRET], old, body, tolerance=400, now=now)
    future = signed_headers([SPEC_SECRET], "msg_x", body, timestamp=int(now) + 301)
    with pytest.raises(SignatureError, match="future"):
        verify([SPEC_SECRET], future, body, now=now)


def test_verify_headers_case_insensitive_and_skips_unknown_versions() -> None:
    body = b"{}"
    headers = signed_headers([SPEC_SECRET], "msg_x", body)
    mixed = {
        "Webhook-Id": headers["webhook-id"],
        "WEBHOOK-TIMESTAMP": headers["webhook-timestamp"],
        "Webhook-Signature": "v1a,AAAA v1,not*base64 " + headers["webhook-signature"],
    }
    verify([SPEC_SECRET], mixed, body)


@pytest.mark.parametrize("drop", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_verify_names_a_missing_header(drop: str) -> None:
    headers = signed_headers([SPEC_SECRET], "msg_x", b"{}")
    del headers[drop]
    with pytest.raises(SignatureError, match=drop):
        verify([SPEC_SECRET], headers, b"{}")


def test_theirs_rejects_our_signature_over_other_content() -> None:
    headers = signed_headers([SPEC_SECRET], "msg_x", b"{}")
    with pytest.raises(WebhookVerificationError):
        _theirs_verify(SPEC_SECRET, headers, b"{ }")


# --- outcomes --------------------------------------------------------------------------------


def test_outcome_names_equal_the_attempt_schema() -> None:
    from newsalert.schemas.delivery import Outcome

    assert set(typing.get_args(Outcome)) == set(oc.OUTCOMES)


@pytest.mark.parametrize(
    ("status", "retry_after", "outcome", "retryable"),
    [
        (200, None, oc.DELIVERED, False),
        (204, None, oc.DELIVERED, False),
        (299, None, oc.DELIVERED, False),
        (301, None, oc.HTTP_ERROR, True),
        (308, None, oc.HTTP_ERROR, True),
        (400, None, oc.HTTP_ERROR, True),
        (410, None, oc.GONE, False),
        (429, "7", oc.RATE_LIMITED, True),
        (429, None, oc.HTTP_ERROR, True),
        (503, "12", oc.RATE_LIMITED, True),
        (503, "soon", oc.HTTP_ERROR, True),
        (500, "7", oc.HTTP_ERROR, True),
    ],
)
def test_from_status(status: int, retry_after: str | None, outcome: str, retryable: bool) -> None:
    result = oc.from_status(status, retry_after)
    assert (result.outcome, result.retryable, result.status) == (outcome, retryable, status)
    assert result.delivered == (outcome == oc.DELIVERED)


def test_retry_after_seconds_and_http_date() -> None:
    now = datetime(2024, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert oc.parse_retry_after("30", now) == 30.0
    assert oc.parse_retry_after("Mon, 01 Jan 2024 12:01:30 GMT", now) == 90.0
    assert oc.parse_retry_after("Mon, 01 Jan 2024 11:00:00 GMT", now) == 0.0
    assert oc.parse_retry_after("-5", now) is None
    assert oc.parse_retry_after("tomorrow", now) is None


def test_failures() -> None:
    assert oc.from_failure(oc.FailureKind.TIMEOUT, "read timed out").retryable
    assert oc.from_failure(oc.FailureKind.CONNECTION, "refused").outcome == oc.CONNECTION_ERROR
    blocked = oc.from_failure(oc.FailureKind.BLOCKED, "loopback")
    assert not blocked.retryable and blocked.outcome == oc.BLOCKED


# --- retry policy ----------------------------------------------------------------------------


def test_parse_delays() -> None:
    assert parse_delays("1, 4,10") == (1.0, 4.0, 10.0)
    assert parse_delays("") == ()
    with pytest.raises(ValueError, match="'x'"):
        parse_delays("1,x")
    with pytest.raises(ValueError, match="-1"):
        parse_delays("-1")


def test_policy_schedule_jitter_and_exhaustion() -> None:
    policy = RetryPolicy((1.0, 10.0), jitter=0.2)
    fail = oc.from_status(500)
    rng = random.Random(7)
    delays = [policy.next_delay(1, fail, rng) for _ in range(200)]
    assert all(0.8 <= d <= 1.2 for d in delays) and max(delays) - min(delays) > 0.1
    assert 8.0 <= policy.next_delay(2, fail, rng) <= 12.0
    assert policy.next_delay(3, fail, rng) is None
    assert policy.max_attempts == 3
    assert policy.next_delay(1, oc.from_status(200)) is None
    assert policy.next_delay(1, oc.from_status(410)) is None


def test_policy_clamps_retry_after_and_applies_throttle_floor() -> None:
    policy = RetryPolicy((10.0,), jitter=0.0, throttle_floor=60.0)
    assert policy.next_delay(1, oc.from_status(429, "15")) == 60.0
    no_floor = RetryPolicy((10.0,), jitter=0.0)
    assert no_floor.next_delay(1, oc.from_status(429, "15")) == 15.0
    assert no_floor.next_delay(1, oc.from_status(429, "1")) == 10.0
    assert no_floor.next_delay(1, oc.from_status(429, "3600")) == 20.0
    assert no_floor.next_delay(1, oc.from_failure(oc.FailureKind.TIMEOUT, "t")) == 10.0
