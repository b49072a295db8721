"""The console's session cookie and CSRF token: genuine, expiring, bound to the API token."""

from __future__ import annotations

from newsalert.config import Settings
from newsalert.services.api.console.session import Sessions

TOKEN = "unit-token-0123456789abcdef"


def _sessions(token: str = TOKEN, ttl: float = 60.0) -> Sessions:
    return Sessions(Settings(api_token=token, console_session_ttl=ttl))


def test_an_issued_cookie_is_valid_until_it_expires() -> None:
    sessions = _sessions()
    value, session = sessions.issue(now=1000.0)
    assert sessions.check(value, now=1059.0) == session
    assert sessions.check(value, now=1060.0) is None


def test_a_tampered_or_foreign_cookie_is_refused() -> None:
    sessions = _sessions()
    value, _ = sessions.issue(now=1000.0)
    expires, nonce, signature = value.split(".")
    assert sessions.check(f"{int(expires) + 3600}.{nonce}.{signature}", now=1000.0) is None
    assert sessions.check(f"{expires}.other.{signature}", now=1000.0) is None
    assert sessions.check(value[:-1] + ("0" if value[-1] != "0" else "1"), now=1000.0) is None
    for junk in (None, "", "abc", "1.2", "x.y.z"):
        assert sessions.check(junk, now=1000.0) is None
    assert _sessions(token=TOKEN + "-rotated").check(value, now=1000.0) is None


def test_the_csrf_token_belongs_to_its_session() -> None:
    sessions = _sessions()
    _, one = sessions.issue(now=1000.0)
    _, two = sessions.issue(now=1000.0)
    assert sessions.csrf_ok(one, sessions.csrf(one))
    assert not sessions.csrf_ok(one, sessions.csrf(two))
    assert not sessions.csrf_ok(one, "")
    assert not sessions.csrf_ok(one, None)


def test_the_token_is_compared_exactly() -> None:
    sessions = _sessions()
    assert sessions.token_matches(TOKEN) and sessions.token_matches(f" {TOKEN}\n")
    assert not sessions.token_matches(TOKEN[:-1]) and not sessions.token_matches("")
