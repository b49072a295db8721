"""The notifier's hot-path shortcuts produce exactly what the schema models would."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from newsalert.domain.alerts import new_alert, new_digest
from newsalert.schemas import Alert, Article, Highlight
from newsalert.services.notifier.sender import payload_body


def _alert(n: int, highlights: bool = True, ingested: bool = True) -> Alert:
    article = Article(id=f"a-{n}", title=f"Missiles \"quoted\" ü {n}", body="<p>North Korea fired missiles.</p>",
                      url=f"https://news.example/{n}", source="Example News", published="2024-01-02T03:04:05Z")
    marks = [Highlight(field="title", text="Missiles", start=0, end=8)] if highlights else []
    return new_alert(article, "r-1", "North Korea AND missiles", "alice", marks, ruleset_version="v9",
                        ingested_at=datetime(2024, 1, 2, 3, 4, 6, 123456, tzinfo=timezone.utc) if ingested else None)


@pytest.mark.parametrize("highlights", [True, False])
@pytest.mark.parametrize("ingested", [True, False])
def test_alert_body_is_byte_identical_to_the_payload_model(highlights: bool, ingested: bool) -> None:
    alert = _alert(1, highlights, ingested)
    assert payload_body(alert) == alert.webhook_payload().to_body()
    # and it carries no alert-only field (ruleset_version, ingested_at)
    assert b"ruleset_version" not in payload_body(alert) and b"ingested_at" not in payload_body(alert)


def test_alert_body_of_a_decoded_record_is_identical_too() -> None:
    decoded = Alert.model_validate_json(_alert(2).to_json())
    assert payload_body(decoded) == decoded.webhook_payload().to_body()


def test_digest_body_is_the_digest_payload() -> None:
    digest = new_digest("alice", 1_700_000_000, 1_700_000_060, [_alert(3), _alert(4)])
    assert payload_body(digest) == digest.webhook_payload().to_body()


@pytest.mark.parametrize("body", [None, "ok", "x" * 5000])
def test_delivered_attempt_record_is_the_validated_models_bytes(body) -> None:
    from pydantic import SecretStr

    from newsalert.domain.delivery import outcome as oc
    from newsalert.domain.delivery.endpoints import Endpoint
    from newsalert.schemas import DeliveryAttempt
    from newsalert.services.notifier.sender import attempt_record

    endpoint = Endpoint("alice", "https://hooks.example.org/alice?token=x", (SecretStr("whsec_MTIzNDU="),))
    at = datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)
    record = attempt_record(_alert(5), endpoint, 1, oc.from_status(204), at, 12.5, DeliveryAttempt.clip_body(body))
    validated = DeliveryAttempt.model_validate(record.model_dump())
    assert record.to_json() == validated.to_json()
    assert DeliveryAttempt.model_validate_json(record.to_json()) == validated
