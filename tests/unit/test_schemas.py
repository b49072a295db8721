"""The wire models: validation rules, extra keys under metadata, webhook ids, fresh JSON Schemas."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from newsalert.domain.alerts import excerpt, new_alert
from newsalert.cli import main
from newsalert.domain.delivery.ids import webhook_id
from newsalert.schemas import (
    ARTICLE_ID_MAX,
    BODY_MAX,
    EXCERPT_MAX,
    METADATA_MAX_BYTES,
    REJECTED_PAYLOAD_MAX,
    TITLE_MAX,
    Alert,
    Article,
    DeadDelivery,
    DeliveryAttempt,
    Highlight,
    RejectedRecord,
    WebhookPayload,
    error_messages,
)
from newsalert.schemas.export import DEFAULT_DIR, WIRE_MODELS, export, render_all, stale_files


def _locs(exc: ValidationError) -> set[str]:
    return {".".join(map(str, e["loc"])) for e in exc.errors()}


# --- Article ----------------------------------------------------------------------------------


def test_article_only_id_required_and_optional_fields_may_be_null():
    article = Article.model_validate(
        {"id": "a1", "title": None, "body": None, "url": None, "source": None,
         "published": None, "language": None, "metadata": None}
    )
    assert article.id == "a1"
    assert article.title is None and article.body is None
    assert article.metadata == {}


@pytest.mark.parametrize("record", [{}, {"id": None}, {"id": ""}, {"id": "   "}, {"id": 42}, {"title": "no id"}])
def test_article_id_is_required_and_non_empty(record):
    with pytest.raises(ValidationError) as info:
        Article.model_validate(record)
    assert "id" in _locs(info.value)


def test_article_id_bounded_and_without_control_characters():
    Article(id="x" * ARTICLE_ID_MAX)
    with pytest.raises(ValidationError) as info:
        Article(id="x" * (ARTICLE_ID_MAX + 1))
    assert _locs(info.value) == {"id"}
    with pytest.raises(ValidationError) as info:
        Article(id="bad\nid")
    assert _locs(info.value) == {"id"}
    assert "control character" in str(info.value)


@pytest.mark.parametrize(
    ("field", "size"), [("title", TITLE_MAX), ("body", BODY_MAX)]
)
def test_article_text_sizes_are_bounded(field, size):
    Article.model_validate({"id": "a", field: "x" * size})
    with pytest.raises(ValidationError) as info:
        Article.model_validate({"id": "a", field: "x" * (size + 1)})
    assert _locs(info.value) == {field}
    assert error_messages(info.value)[0].startswith(f"{field}: ")


def test_article_unknown_top_level_keys_are_kept_under_metadata():
    article = Article.model_validate(
        {"id": "a", "category": "tech", "tags": ["x", "y"], "metadata": {"feed": "rss"}}
    )
    assert article.metadata == {"feed": "rss", "category": "tech", "tags": ["x", "y"]}
    # and they survive a round trip through the wire encoding
    again = Article.model_validate_json(article.to_json())
    assert again == article
    assert "category" not in json.loads(article.to_json())


def test_article_key_both_top_level_and_in_metadata_is_refused():
    with pytest.raises(ValidationError) as info:
        Article.model_validate({"id": "a", "category": "x", "metadata": {"category": "y"}})
    assert "'category'" in str(info.value)


def test_article_metadata_must_be_an_object_and_bounded():
    with pytest.raises(ValidationError) as info:
        Article.model_validate({"id": "a", "metadata": ["not", "a", "dict"]})
    assert _locs(info.value) == {"metadata"}
    with pytest.raises(ValidationError) as info:
        Article.model_validate({"id": "a", "metadata": {"blob": "x" * METADATA_MAX_BYTES}})
    assert _locs(info.value) == {"metadata"}


def test_article_published_is_normalised_to_utc():
    naive = Article.model_validate({"id": "a", "published": "2024-02-25"})
    assert naive.published == datetime(2024, 2, 25, tzinfo=timezone.utc)
    shifted = Article.model_validate({"id": "a", "published": "2024-02-25T01:00:00+01:00"})
    assert shifted.published == datetime(2024, 2, 25, tzinfo=timezone.utc)
    with pytest.raises(ValidationError) as info:
        Article.model_validate({"id": "a", "published": "last tuesday"})
    assert _locs(info.value) == {"published"}


def test_article_language_tag_checked():
    assert Article(id="a", language="pt-BR").language == "pt-BR"
    with pytest.raises(ValidationError) as info:
        Article(id="a", language="English please")
    assert _locs(info.value) == {"language"}


def test_article_wrong_type_names_the_field():
    with pytest.raises(ValidationError) as info:
        Article.model_validate({"id": "a", "title": {"nested": 1}})
    assert _locs(info.value) == {"title"}


def test_article_real_feed_shape_validates():
    record = {"id": "bbc-1", "title": "T", "body": "B", "url": "http://x/1", "source": "bbc",
              "published": "2005-01-01", "category": "business"}
    assert Article.model_validate(record).metadata == {"category": "business"}


# --- webhook ids --------------------------------------------------------------------------------


def test_webhook_id_is_deterministic_and_distinguishes_every_part():
    base = webhook_id("a1", "r1", "s1")
    assert base == webhook_id("a1", "r1", "s1")
    assert base.startswith("msg_") and len(base) == 4 + 32
    others = {webhook_id("a2", "r1", "s1"), webhook_id("a1", "r2", "s1"), webhook_id("a1", "r1", "s2")}
    assert base not in others and len(others) == 3
    # length prefixes: shifting characters between parts changes the id
    assert webhook_id("a|1", "r", "s") != webhook_id("a", "1|r", "s")


def test_webhook_id_refuses_empty_parts():
    with pytest.raises(ValueError, match="rule_id"):
        webhook_id("a", "", "s")


# --- Alert and webhook payload -------------------------------------------------------------------


def _article() -> Article:
    body = "<p>North Korea&nbsp;fired  missiles.</p>" + " word" * 400
    return Article(id="art-1", title="NK missiles", body=body, url="https://n.example/1",
                   source="wire", published="2024-02-25T00:00:00Z", language="en")


def _alert(**overrides) -> Alert:
    hl = [Highlight(field="title", text="NK", start=0, end=2)]
    return new_alert(_article(), "nk-missiles", "North Korea AND missiles", "asia-desk", hl,
                        ruleset_version="v1", **overrides)


def test_alert_create_derives_webhook_id_and_bounded_cleaned_excerpt():
    alert = _alert()
    assert alert.webhook_id == webhook_id("art-1", "nk-missiles", "asia-desk")
    assert alert.article.excerpt.startswith("North Korea fired missiles. word")
    assert len(alert.article.excerpt) <= EXCERPT_MAX
    assert alert.article.excerpt.endswith("…")
    assert "<p>" not in alert.article.excerpt and "&nbsp;" not in alert.article.excerpt
    assert alert.matched_at.tzinfo is not None


def test_alert_round_trips_and_a_missing_webhook_id_is_refused():
    alert = _alert()
    record = json.loads(alert.to_json())
    assert Alert.model_validate(record) == alert
    del record["webhook_id"]
    with pytest.raises(ValidationError, match="webhook_id"):
        Alert.model_validate(record)


def test_alert_keeps_a_given_webhook_id():
    record = json.loads(_alert().to_json())
    record["webhook_id"] = "msg_replayed123"
    assert Alert.model_validate(record).webhook_id == "msg_replayed123"


def test_alert_rejects_unknown_keys_and_bad_highlights():
    record = json.loads(_alert().to_json())
    with pytest.raises(ValidationError) as info:
        Alert.model_validate({**record, "surprise": 1})
    assert "surprise" in _locs(info.value)
    bad = {**record, "highlights": [{"field": "title", "text": "x", "start": 5, "end": 2}]}
    with pytest.raises(ValidationError) as info:
        Alert.model_validate(bad)
    assert "highlights.0" in _locs(info.value)
    bad = {**record, "highlights": [{"field": "summary", "text": "x", "start": 0, "end": 1}]}
    with pytest.raises(ValidationError) as info:
        Alert.model_validate(bad)
    assert "highlights.0.field" in _locs(info.value)


def test_webhook_payload_carries_what_subscribers_need():
    alert = _alert()
    body = json.loads(alert.webhook_payload().to_body())
    assert body["type"] == "article.matched"
    assert body["webhook_id"] == alert.webhook_id
    assert body["subscriber"] == "asia-desk"
    assert body["rule"] == {"id": "nk-missiles", "query": "North Korea AND missiles"}
    assert set(body["article"]) >= {"id", "title", "url", "source", "published", "excerpt"}
    assert body["article"]["published"] == "2024-02-25T00:00:00Z"
    assert body["highlights"] == [{"field": "title", "text": "NK", "start": 0, "end": 2}]
    assert "matched_at" in body
    assert "ruleset_version" not in body  # internal
    assert WebhookPayload.model_validate(body) == alert.webhook_payload()


def test_excerpt_short_text_is_kept_whole_on_one_line():
    assert excerpt("a\n\nb  c") == "a b c"
    assert excerpt(None) == ""


# --- dead letters and delivery records ------------------------------------------------------------


def test_rejected_record_from_exception_with_bounded_payload():
    payload = b"\xff" + b"x" * (REJECTED_PAYLOAD_MAX + 10)
    record = RejectedRecord.of("matcher", KeyError("boom"), payload, topic="articles", partition=2, offset=7)
    assert record.error_type == "KeyError"
    assert record.payload_truncated and record.payload_size == len(payload)
    assert len(record.payload) == REJECTED_PAYLOAD_MAX
    assert record.payload.startswith("\ufffd")
    again = RejectedRecord.model_validate_json(record.to_json())
    assert again == record


def test_rejected_record_stage_is_checked():
    with pytest.raises(ValidationError) as info:
        RejectedRecord(stage="elsewhere", reason="r", error_type="E", at=datetime.now(timezone.utc))
    assert _locs(info.value) == {"stage"}


def test_delivery_attempt_and_dead_delivery_round_trip():
    alert = _alert()
    attempt = DeliveryAttempt(
        subscriber="asia-desk", webhook_id=alert.webhook_id, attempt=1, outcome="http_error",
        status_code=500, latency_ms=12.5, response_body=DeliveryAttempt.clip_body(b"x" * 5000),
        at=datetime.now(timezone.utc),
    )
    assert len(attempt.response_body) == 1024
    dead = DeadDelivery(alert=alert, reason="exhausted", attempts=[attempt], last_error="HTTP 500",
                        dead_at=datetime.now(timezone.utc))
    assert DeadDelivery.model_validate_json(dead.to_json()) == dead
    with pytest.raises(ValidationError) as info:
        DeliveryAttempt.model_validate({**attempt.model_dump(), "attempt": 0})
    assert _locs(info.value) == {"attempt"}
    with pytest.raises(ValidationError) as info:
        DeliveryAttempt.model_validate({**attempt.model_dump(), "outcome": "meh"})
    assert _locs(info.value) == {"outcome"}


# --- JSON Schema files -----------------------------------------------------------------------------


def test_committed_json_schemas_are_up_to_date(tmp_path: Path):
    export(tmp_path)
    fresh = {p.name: p.read_text(encoding="utf-8") for p in tmp_path.iterdir()}
    committed = {p.name: p.read_text(encoding="utf-8") for p in DEFAULT_DIR.glob("*.schema.json")}
    assert committed == fresh, "schemas/json is stale: run `newsalert schemas export` and commit"


def test_schema_export_is_deterministic_and_covers_every_wire_model():
    assert render_all() == render_all()
    names = set(render_all())
    assert names == {f"{m.__name__}.schema.json" for m in WIRE_MODELS}
    article = json.loads(render_all()["Article.schema.json"])
    assert article["additionalProperties"] is True
    assert article["required"] == ["id"]
    assert article["properties"]["title"]["anyOf"][0]["maxLength"] == TITLE_MAX


def test_stale_detection_and_cli(tmp_path: Path):
    runner = CliRunner()
    result = runner.invoke(main, ["schemas", "export", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert runner.invoke(main, ["schemas", "export", "--check", str(tmp_path)]).exit_code == 0
    (tmp_path / "Article.schema.json").write_text("{}\n")
    (tmp_path / "Gone.schema.json").write_text("{}\n")
    assert stale_files(tmp_path) == ["Article.schema.json", "Gone.schema.json"]
    result = runner.invoke(main, ["schemas", "export", "--check", str(tmp_path)])
    assert result.exit_code == 1 and "Article.schema.json" in result.output
    runner.invoke(main, ["schemas", "export", str(tmp_path)])
    assert stale_files(tmp_path) == []
    assert not (tmp_path / "Gone.schema.json").exists()
