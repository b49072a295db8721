"""The console's sign-in: a signed, expiring session cookie and the CSRF token bound to it.

The cookie value is ``<expiry>.<nonce>.<signature>``: the signature is an HMAC-SHA256 of
``<expiry>.<nonce>`` under a key derived from the API token, so only someone who knew the token
can make one, it stops working at its expiry, and changing the token ends every session. Nothing
is stored on the server. The CSRF token of a session is an HMAC of its nonce under the same key:
a form posted from another site has the cookie (if the browser sent it at all: it is
SameSite=Strict) but cannot know the token.

Without a configured token (``NEWSALERT_API_ALLOW_NO_TOKEN``, development only) the key is random
per process, and every request counts as signed in.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from newsalert.config import Settings

COOKIE = "newsalert_console"
"""Name of the session cookie."""
_KEY_LABEL = b"newsalert console session v1"


@dataclass(frozen=True)
class Session:
    """A valid session: when it ends (epoch seconds) and its nonce (the CSRF token's seed)."""

    expires: int
    nonce: str


class Sessions:
    """Issues and checks session cookies and CSRF tokens for one API token."""

    def __init__(self, settings: Settings) -> None:
        token = settings.api_token.get_secret_value().encode() if settings.api_token is not None else None
        self._key = hmac.new(token, _KEY_LABEL, hashlib.sha256).digest() if token else secrets.token_bytes(32)
        self._token = token
        self.ttl = settings.console_session_ttl
        self.open = token is None

    def token_matches(self, given: str) -> bool:
        """Whether ``given`` is the API token (constant-time); always true without a token."""
        return self._token is None or hmac.compare_digest(given.strip().encode(), self._token)

    def issue(self, now: float | None = None) -> tuple[str, Session]:
        """A new session and its cookie value."""
        session = Session(int((time.time() if now is None else now) + self.ttl), secrets.token_urlsafe(18))
        payload = f"{session.expires}.{session.nonce}"
        return f"{payload}.{self._sign(payload)}", session

    def check(self, cookie: str | None, now: float | None = None) -> Session | None:
        """The session of ``cookie`` if it is genuine and not expired, else None."""
        expires, _, rest = (cookie or "").partition(".")
        nonce, _, signature = rest.partition(".")
        if not expires.isdigit() or not nonce or not signature:
            return None
        if not hmac.compare_digest(signature, self._sign(f"{expires}.{nonce}")):
            return None
        if int(expires) <= (time.time() if now is None else now):
            return None
        return Session(int(expires), nonce)

    def csrf(self, session: Session) -> str:
        """The CSRF token forms of ``session`` must carry."""
        return self._sign(f"csrf.{session.nonce}")

    def csrf_ok(self, session: Session, given: str | None) -> bool:
        """Whether ``given`` is ``session``'s CSRF token (constant-time)."""
        return bool(given) and hmac.compare_digest(given, self.csrf(session))

    def _sign(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()
