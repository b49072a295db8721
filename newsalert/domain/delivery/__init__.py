"""Delivery domain: webhook ids, Standard Webhooks signing, attempt outcomes, the retry policy.

Pure code (no I/O): the notifier and the demo receiver wire it to HTTP.
"""

from newsalert.domain.delivery.ids import webhook_id
from newsalert.domain.delivery.outcome import AttemptOutcome, FailureKind, from_failure, from_status, parse_retry_after
from newsalert.domain.delivery.retry import RetryPolicy, parse_delays
from newsalert.domain.delivery.signing import (
    SecretFormatError,
    SignatureError,
    secret_key,
    sign,
    signed_headers,
    verify,
)

__all__ = [
    "AttemptOutcome",
    "FailureKind",
    "RetryPolicy",
    "SecretFormatError",
    "SignatureError",
    "from_failure",
    "from_status",
    "parse_delays",
    "parse_retry_after",
    "secret_key",
    "sign",
    "signed_headers",
    "verify",
    "webhook_id",
]
