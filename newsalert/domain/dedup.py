"""De-duplication of alerts, the pure part: story fingerprints, the duplicate rule, the claim book.

An article has up to three fingerprints (id, canonical URL, normalised title and first paragraph);
an alert is a duplicate when any of them was claimed for its (subscriber, rule) within the window
by another alert record. Claims name their record (``partition:offset``), so a record handled
again after a crash is delivered again, not dropped. Runs in the notifier
(``docs/architecture.md``, ``newsalert.services.notifier.claims``).
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from newsalert.domain.text import token_spans

TRACKING_PARAMS = frozenset({
    "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "mc_cid", "mc_eid", "igshid", "yclid",
    "_ga", "_gl", "ocid", "cmpid", "ncid", "ref", "ref_src", "ref_url", "smid", "cid", "at_medium", "at_campaign",
})
"""Query parameters that identify a campaign or a click, not the page."""
_TRACKING_PREFIXES = ("utm_", "at_", "pk_", "mtm_")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_BLANK_LINE = re.compile(r"\n\s*\n")


def canonical_url(url: str | None) -> str | None:
    """``url`` without what does not identify the page (see the module docstring); None if unusable."""
    if not url or not url.strip():
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if not scheme or not host:
        return None
    netloc = host if port is None or _DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    query = sorted(
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in TRACKING_PARAMS and not k.lower().startswith(_TRACKING_PREFIXES)
    )
    path = parts.path.rstrip("/") or "/"
    return urlunsplit((scheme, netloc, path, urlencode(query), ""))


def text_fingerprint(title: str | None, body: str | None) -> str | None:
    """sha256 of the normalised tokens of the title and the body's first paragraph; None if empty."""
    first = _BLANK_LINE.split((body or "").strip(), 1)[0]
    tokens = token_spans(title or "")[0] + ["\x00"] + token_spans(first)[0]
    if len(tokens) == 1:
        return None
    return hashlib.sha256(" ".join(tokens).encode()).hexdigest()[:32]


def story_fingerprints(article_id: str, url: str | None, title: str | None, body: str | None) -> list[str]:
    """The fingerprints of one (cleaned) article, ``id:`` first."""
    out = [f"id:{article_id}"]
    canonical = canonical_url(url)
    if canonical:
        out.append(f"url:{canonical}")
    text = text_fingerprint(title, body)
    if text:
        out.append(f"text:{text}")
    return out


def dedup_key(subscriber: str, rule_id: str, fingerprint: str) -> str:
    """The table key of one fingerprint for one (subscriber, rule)."""
    return f"{subscriber}\x1f{rule_id}\x1f{fingerprint}"


Claim = tuple[float, str]
"""A claim: (when, in seconds since the epoch; the claiming record, ``partition:offset``)."""


def is_duplicate(claim: Claim | None, record: str, now_s: float, window_s: float) -> bool:
    """Whether an existing ``claim`` makes ``record`` a duplicate at ``now_s``."""
    if claim is None:
        return False
    at, by = claim
    return by != record and now_s - at < window_s


class ClaimBook:
    """The claims of the partitions one notifier owns, in memory: key -> (at, record).

    Per partition, claims are kept in the order they were made (a dict keeps insertion order and a
    renewed claim is moved to the end), so ``expire`` drops the old ones from the front without
    scanning the rest. The durable copy is the ``matches.claims`` topic; this book is what the
    notifier consults for every alert.
    """

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._partitions: dict[int, dict[str, Claim]] = {}

    def check_and_claim(
        self, partition: int, subscriber: str, rule_id: str, fingerprints: list[str], record: str, now_s: float
    ) -> bool:
        """True (and the story claimed for ``record``) when none of ``fingerprints`` was claimed for
        this (subscriber, rule) within the window by another record; False for a duplicate."""
        book = self._partitions.setdefault(partition, {})
        keys = [dedup_key(subscriber, rule_id, fp) for fp in fingerprints]
        if any(is_duplicate(book.get(key), record, now_s, self.window_s) for key in keys):
            return False
        for key in keys:
            book.pop(key, None)
            book[key] = (now_s, record)
        return True

    def load(self, partition: int, subscriber: str, rule_id: str, fingerprints: list[str], record: str, at_s: float) -> None:
        """Take a claim read back from the durable copy (later claims of a key replace earlier ones)."""
        book = self._partitions.setdefault(partition, {})
        for fp in fingerprints:
            key = dedup_key(subscriber, rule_id, fp)
            book.pop(key, None)
            book[key] = (at_s, record)

    def forget(self, partition: int) -> None:
        """Drop a partition's claims (it moved to another notifier)."""
        self._partitions.pop(partition, None)

    def expire(self, now_s: float) -> int:
        """Drop the claims older than the window; returns how many were dropped."""
        dropped = 0
        for book in self._partitions.values():
            while book:
                key = next(iter(book))
                if now_s - book[key][0] < self.window_s:
                    break
                del book[key]
                dropped += 1
        return dropped

    def size(self, partition: int | None = None) -> int:
        """Claims held (of one partition, or all)."""
        if partition is not None:
            return len(self._partitions.get(partition, ()))
        return sum(len(book) for book in self._partitions.values())


def is_expired(at_s: float, now_s: float, window_s: float) -> bool:
    """Whether a claim made at ``at_s`` no longer counts at ``now_s``."""
    return now_s - at_s >= window_s
