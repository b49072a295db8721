"""Every message on the wire, as pydantic models: the single definition for all services.

- ``Article``          the ``articles`` topic (and ``POST /articles`` of ingest)
- ``Alert``            the ``matches`` topic: one (article, rule, subscriber) match
- ``WebhookPayload``   the JSON body POSTed to a subscriber
- ``DigestPayload``    the JSON body of a digest (alerts held back by a rate limit)
- ``BatchPayload``     the JSON body of a batch (waiting alerts of a subscriber with ``batch_max``)
- ``RejectedRecord``   dead letters on ``articles.rejected`` and ``matches.rejected``
- ``DeliveryAttempt``  one POST to a webhook, as recorded by the notifier
- ``DeadDelivery``     an alert given up on, on ``deliveries.dead``
- ``RetryEnvelope``    an alert (or digest) waiting for its next attempt, on ``deliveries.retry.<tier>``
- ``SubscriberState``  a subscriber disabled (410) or enabled again, on ``deliveries.subscribers``
- ``ClaimBatch``       de-duplication claims of delivered stories, on ``matches.claims``
- ``SeenEntries``      ids of a feed's entries already published, on ``feeds.seen`` (``newsalert.schemas.feeds``)

JSON Schema files for non-Python producers and consumers are generated into ``schemas/json/``
by ``newsalert schemas export`` (see ``newsalert.schemas.export``).
"""

from newsalert.schemas._common import error_messages
from newsalert.schemas.alert import (
    EXCERPT_MAX,
    HIGHLIGHTS_MAX,
    Alert,
    ArticleSummary,
    Highlight,
    MatchMessage,
    RuleRef,
    WebhookPayload,
)
from newsalert.schemas.article import (
    ARTICLE_ID_MAX,
    ARTICLE_MAX_BYTES,
    BODY_MAX,
    METADATA_MAX_BYTES,
    TITLE_MAX,
    Article,
)
from newsalert.schemas.batch import Batch, BatchPayload
from newsalert.schemas.dedup import ClaimBatch, StoryClaim
from newsalert.schemas.delivery import DeadDelivery, DeliveryAttempt, RetryEnvelope, SubscriberState
from newsalert.schemas.digest import Digest, DigestPayload
from newsalert.schemas.rejected import REJECTED_PAYLOAD_MAX, RejectedRecord

__all__ = [
    "ARTICLE_ID_MAX",
    "ARTICLE_MAX_BYTES",
    "BODY_MAX",
    "EXCERPT_MAX",
    "HIGHLIGHTS_MAX",
    "METADATA_MAX_BYTES",
    "REJECTED_PAYLOAD_MAX",
    "TITLE_MAX",
    "Alert",
    "Article",
    "Batch",
    "BatchPayload",
    "ArticleSummary",
    "DeadDelivery",
    "DeliveryAttempt",
    "Digest",
    "DigestPayload",
    "Highlight",
    "MatchMessage",
    "RejectedRecord",
    "RetryEnvelope",
    "RuleRef",
    "ClaimBatch",
    "StoryClaim",
    "SubscriberState",
    "WebhookPayload",
    "error_messages",
]
