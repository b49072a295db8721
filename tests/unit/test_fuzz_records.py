"""Fuzzing what every service does with one record of a topic it consumes, in process: random
values (bytes, tombstones, invalid UTF-8, JSON nested 100,000 deep, random JSON, valid records with
one field replaced or dropped), random keys and random or corrupt headers.

Each decoder may refuse a record only with its own category of error (the matcher's
``InvalidArticle`` becomes a dead letter, the notifier's ``Unusable`` too); each follower of a
compacted topic (the rules feed of the matcher, notifier and API, subscriber states, claims) logs
and skips it. A valid record right after the garbage is still taken. The topic-level tests on the
real broker are tests/integration/test_fuzz_followed_topics.py and tests/e2e/test_fuzz_topics.py.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError

from newsalert.adapters.reading import Message
from newsalert.config import Settings
from newsalert.domain.alerts import new_alert
from newsalert.domain.articles import InvalidArticle, decode_article
from newsalert.domain.delivery.endpoints import Endpoint
from newsalert.domain.matching import Engine
from newsalert.schemas import Article, ClaimBatch, RetryEnvelope, StoryClaim, SubscriberState
from newsalert.schemas.dedup import DEDUP_HEADER
from newsalert.schemas.feeds import SeenEntries
from newsalert.schemas.rules import Rule
from newsalert.schemas.rules_feed import FeedSubscriber, SubscriptionRecord, decode_feed_record, subscription_key
from newsalert.services.api.store import FeedView
from newsalert.services.matcher.live import FeedState
from newsalert.services.matcher.processing import ArticleMatcher, SourcePosition
from newsalert.services.notifier.claims import StoryClaims, _apply
from newsalert.services.notifier.feed import SubscriberDirectory
from newsalert.services.notifier.intake import Unusable, decode_alert, decode_retry
from newsalert.services.notifier.states import SubscriberStates
from tests.unit.plain_rules import Rule as PlainRule
from tests.support import SECRET

CASES = 300
_fuzz = settings(max_examples=CASES, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)

ARTICLE = Article(id="a-1", title="Missiles over Paris", body="<p>Filed in Paris.</p>", url="https://news.example/1",
                  published="2024-01-02T03:04:05Z")
ALERT = new_alert(ARTICLE, "r1", "Paris", "desk", [], ruleset_version="v1")
RETRY = RetryEnvelope(alert=ALERT, attempt=2, due_at=NOW, last_error="HTTP 500")
SUBSCRIPTION = SubscriptionRecord(id="api-desk", status="active", rules=(Rule(id="r1", query="Paris"),),
                                  subscriber=FeedSubscriber(id="api-desk", url="https://hooks.example.org/api", secret=SECRET))
STATE = SubscriberState(subscriber="desk", status="disabled", reason="410 Gone", at=NOW)
CLAIMS = ClaimBatch(claims=[StoryClaim(subscriber="desk", rule="r1", fingerprints=["f1"], at=1.0, by="0:1")])
SEEN = SeenEntries(feed="bbc", ids=["e1", "e2"])
VALID = [json.loads(m.model_dump_json()) for m in (ARTICLE, ALERT, RETRY, SUBSCRIPTION, STATE, CLAIMS, SEEN)]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=15,
)


@st.composite
def near_valid(draw) -> bytes:
    """A valid record of some topic with one field replaced by a random value, or dropped."""
    record = dict(draw(st.sampled_from(VALID)))
    field = draw(st.sampled_from(sorted(record)))
    if draw(st.booleans()):
        record[field] = draw(json_values)
    else:
        record.pop(field)
    return json.dumps(record).encode()


DEEP = [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000, b"[" * 100_000, b"{" * 5_000]
values = st.one_of(
    st.none(), st.binary(max_size=300), st.sampled_from(DEEP), json_values.map(lambda v: json.dumps(v).encode()), near_valid(),
    st.binary(max_size=50).map(lambda b: b"\xff\xfe" + b), st.text(max_size=50).map(lambda t: ("\x00" + t).encode()),
)
keys = st.one_of(st.none(), st.binary(max_size=30), st.sampled_from([b"", b"ruleset", b"subscription/", b"subscription/api-desk",
                                                                       b"subscription/x", b"desk", b"\xff"]))
headers = st.lists(st.tuples(st.sampled_from([DEDUP_HEADER, "x", ""]), st.one_of(st.binary(max_size=40), st.sampled_from(DEEP),
                   json_values.map(lambda v: json.dumps(v).encode()),
                   st.integers(0, 20).map(lambda n: json.dumps([f"f{i}" for i in range(n)]).encode()))), max_size=2)

OUTCOMES: dict[str, Counter] = {}


def count(target: str, outcome: str) -> None:
    OUTCOMES.setdefault(target, Counter())[outcome] += 1


def message(topic: str, key: bytes | None, value: bytes | None, offset: int = 0) -> Message:
    return Message(topic, 0, offset, key, value)


@_fuzz
@given(values, keys)
def test_matcher_dead_letters_any_article_record(value, key) -> None:
    matcher = ArticleMatcher(Engine([PlainRule("r1", "Paris", ("desk",))]), [PlainRule("r1", "Paris", ("desk",))], "v1",
                             matches_topic="p-matches", rejected_topic="p-articles.rejected", clock=lambda: NOW)
    outcome = matcher.process(value, SourcePosition("p-articles", 0, 1, key))
    # Either alerts on matches or exactly one dead letter with a reason.
    topics = {r.topic for r in outcome.records}
    assert topics <= {"p-matches"} or (topics == {"p-articles.rejected"} and len(outcome.records) == 1)
    if topics == {"p-articles.rejected"}:
        assert json.loads(outcome.records[0].value)["reason"]
    count("matcher: articles", "dead letter" if "p-articles.rejected" in topics else "matched or not")
    good = matcher.process(ARTICLE.to_json(), SourcePosition("p-articles", 0, 2, b"a-1"))
    assert [r.topic for r in good.records] == ["p-matches"]


@_fuzz
@given(values, headers)
def test_notifier_refuses_any_alert_or_retry_record_as_unusable(value, header_list) -> None:
    endpoints = {"desk": Endpoint("desk", "https://hooks.example.org/desk", (SecretStr(SECRET),))}
    for decode, target in ((decode_alert, "notifier: matches"), (decode_retry, "notifier: retry topics")):
        try:
            decoded = decode(value, endpoints)
        except Unusable as exc:
            assert exc.reason and exc.error_type
            count(target, "dead letter")
        else:
            count(target, "delivered")
            assert decoded.endpoint.subscriber == "desk"
    claims = StoryClaims(Settings(), None)  # type: ignore[arg-type] - admit() publishes nothing
    assert claims.admit(0, 1, 0, ALERT, header_list) in (True, False)
    count("notifier: dedup header", "taken")


@_fuzz
@given(st.lists(st.tuples(keys, values), min_size=1, max_size=5))
def test_rules_feed_followers_skip_bad_records_and_take_the_next_good_one(records) -> None:
    matcher_feed, api_view = FeedState(), FeedView()
    directory = SubscriberDirectory(Settings())
    for i, (key, value) in enumerate(records):
        try:
            decoded = decode_feed_record(key, value)
        except ValueError:
            count("rules feed (decode)", "logged and skipped")
        else:
            count("rules feed (decode)", "unknown key, skipped" if decoded is None else "taken")
        matcher_feed.apply(key, value)
        api_view.apply(key, value)
        directory._take(message("p-rules", key, value, i))  # noqa: SLF001 - the follower's per-record step
    good_key, good = subscription_key("api-desk"), SUBSCRIPTION.to_json()
    assert matcher_feed.apply(good_key, good) is True or matcher_feed.subscriptions["api-desk"] == SUBSCRIPTION
    api_view.apply(good_key, good)
    directory._take(message("p-rules", good_key, good, len(records)))  # noqa: SLF001
    assert matcher_feed.subscriptions["api-desk"] == api_view.subscriptions["api-desk"] == SUBSCRIPTION
    assert directory.get("api-desk") is not None


@_fuzz
@given(st.lists(st.tuples(keys, values), min_size=1, max_size=5))
def test_states_claims_and_seen_skip_bad_records(records) -> None:
    states = SubscriberStates(Settings())
    latest: dict[bytes, ClaimBatch] = {}
    for i, (key, value) in enumerate(records):
        states._take(message("p-deliveries.subscribers", key, value, i))  # noqa: SLF001
        _apply(latest, message("p-matches.claims", key, value, i))
        try:
            SeenEntries.model_validate_json(value or b"")
            count("feeds.seen", "taken")
        except ValidationError:
            count("feeds.seen", "logged and skipped")
    count("deliveries.subscribers and matches.claims", "skipped or taken")
    states._take(message("p-deliveries.subscribers", b"desk", STATE.model_dump_json().encode(), len(records)))  # noqa: SLF001
    _apply(latest, message("p-matches.claims", b"0:1", CLAIMS.to_json(), len(records)))
    assert states.is_disabled("desk") and latest[b"0:1"] == CLAIMS


def test_deep_json_and_oversized_dedup_headers_are_refused_not_raised() -> None:
    """The cases that raised before (RecursionError, a ValidationError from the claim)."""
    for deep in DEEP[:3]:
        try:
            decode_article(deep)
        except InvalidArticle as exc:
            assert "nested too deeply" in str(exc)
        try:
            decode_feed_record(b"subscription/x", deep)
        except ValueError as exc:
            assert "nested too deeply" in str(exc)
    claims = StoryClaims(Settings(), None)  # type: ignore[arg-type]
    for header in (DEEP[0], json.dumps([f"f{i}" for i in range(100)]).encode()):
        assert claims.admit(0, 1, 0, ALERT, [(DEDUP_HEADER, header)]) is True  # delivered, not de-duplicated


def test_zz_report() -> None:
    """Print what the fuzz tests above tried (run last in this module)."""
    for target, outcomes in OUTCOMES.items():
        print(f"\nrecord fuzz {target}: {sum(outcomes.values())} records, {dict(outcomes)}")
