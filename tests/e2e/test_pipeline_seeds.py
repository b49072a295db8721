"""The whole pipeline on the seeds: replay ``seeds/`` with ``seeds/rules.yaml`` through the real
broker, matcher and notifier into a real receiver, and compare with the offline ``newsalert match``.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import jsonschema
import pytest
from standardwebhooks import Webhook

from newsalert.domain.delivery.ids import webhook_id
from newsalert.adapters.rule_files import load_rule_file

from .conftest import REPO, expected_alerts

SEEDS = REPO / "seeds"
SEED_ARTICLE_ID = json.loads(next((SEEDS / "articles").glob("000_*.json")).read_text())["id"]


def _rules_for(receiver, tmp_path: Path) -> Path:
    """seeds/rules.yaml with its subscribers pointed at the test receiver."""
    text = (SEEDS / "rules.yaml").read_text().replace("127.0.0.1:8787", f"127.0.0.1:{receiver.port}")
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return path


def _secrets(subscriber) -> list[str]:
    secret = subscriber.secret
    values = secret if isinstance(secret, (list, tuple)) else [secret]
    return [v.get_secret_value() if hasattr(v, "get_secret_value") else v for v in values]


@pytest.mark.kafka
def test_seeds_reach_the_receiver_exactly_as_match_predicts(pipeline, receiver, tmp_path):
    rules = _rules_for(receiver, tmp_path)
    expected = expected_alerts(pipeline, rules, SEEDS)
    expected_ids = {webhook_id(a, r, s): (a, r, s) for (a, r), subs in expected.items() for s in subs}
    assert expected_ids, "the seed rules match nothing: the test would prove nothing"

    pipeline.start("matcher", "--rules", str(rules))
    pipeline.start("notifier", "--rules", str(rules))
    result = pipeline.cli("replay", str(SEEDS))
    assert "published" in (result.stdout + result.stderr).lower()

    missing = receiver.wait_for_ids(set(expected_ids), timeout=120)
    assert not missing, f"{len(missing)} expected alerts never arrived: {[expected_ids[m] for m in sorted(missing)][:10]}"

    received = receiver.snapshot()
    counts = Counter(r.headers["webhook-id"] for r in received)
    unexpected = set(counts) - set(expected_ids)
    assert not unexpected, f"alerts that `newsalert match` does not predict: {unexpected}"

    # The seed article reaches the subscribers of the rule `North Korea AND missiles`.
    ruleset = load_rule_file(rules)
    nk = [rule for rule in ruleset.rules if rule.query == "North Korea AND missiles"]
    assert nk, "seeds/rules.yaml must hold the rule `North Korea AND missiles`"
    for subscriber in nk[0].notify:
        assert webhook_id(SEED_ARTICLE_ID, nk[0].id, subscriber) in counts

    # Every request verifies with the Standard Webhooks reference library, and carries what a
    # subscriber needs.
    for item in received:
        subscriber_id = item.path.rsplit("/", 1)[-1]
        subscriber = ruleset.subscribers[subscriber_id]
        verified = [_verifies(secret, item) for secret in _secrets(subscriber)]
        assert any(verified), f"signature of {item.headers['webhook-id']} does not verify"
        if subscriber.format != "standard":  # a chat message, of the documented shape
            _valid_chat_message(subscriber.format, item.payload)
            continue
        payload = item.payload
        assert payload["subscriber"] == subscriber_id
        assert {"id", "title", "url", "source", "published", "excerpt"} <= set(payload["article"])
        assert {"id", "query"} <= set(payload["rule"])
        assert payload["highlights"] and "matched_at" in payload

    duplicates = sum(n - 1 for n in counts.values())
    print(f"seeds: expected {len(expected_ids)} alerts, delivered {len(counts)} distinct, duplicates {duplicates}")


def _valid_chat_message(fmt: str, message: dict) -> None:
    schema = json.loads((REPO / "docs" / "chat" / f"{fmt}.schema.json").read_text())
    errors = [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(message)]
    assert not errors, f"{fmt} message not of the documented shape: {errors[:3]}"


def _verifies(secret: str, item) -> bool:
    try:
        Webhook(secret).verify(item.body, item.headers)
        return True
    except Exception:
        return False
