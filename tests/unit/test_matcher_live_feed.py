"""The matcher's live rules on the in-memory broker: the file is published when the topic has
another version, and a subscription read from the feed installs a new effective rule set."""

from __future__ import annotations

import asyncio

from newsalert.adapters.memory_broker import InMemoryBroker
from newsalert.config import Settings
from newsalert.adapters.rule_files import load_rule_file
from newsalert.schemas.rules_feed import RuleSetSnapshot, subscription_key
from newsalert.services.matcher.live import LiveRulesService
from tests.unit.test_matcher_live_rules import YAML, sub


async def test_the_file_is_published_then_a_subscription_changes_the_installed_rules(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(YAML)
    rule_set = load_rule_file(path)
    broker = InMemoryBroker()
    installed: list[str] = []

    async def install(new) -> None:
        installed.append(new.version)

    settings = Settings(_env_file=None, topic_prefix="m-", rules_poll_interval=3600)
    service = LiveRulesService(settings, path, rule_set, install, publisher=broker, feed_reader=broker)
    await service.start()
    try:
        published = broker.messages("m-rules")
        assert RuleSetSnapshot.model_validate_json(published[0].value).version == rule_set.version
        assert installed == [rule_set.version]
        await broker.publish("m-rules", sub("late", rule_ids=("nk",)).to_json(), key=subscription_key("late"))
        for _ in range(200):
            if len(installed) > 1:
                break
            await asyncio.sleep(0.01)
        assert len(installed) == 2 and installed[1] != rule_set.version
    finally:
        await service.stop()
