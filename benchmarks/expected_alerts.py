"""The alerts the pipeline owes for what the benchmark published, computed offline with the domain
engine (the same computation as ``newsalert match``), so a benchmark phase that drained can be
checked for lost and unexpected alerts, not only timed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

from newsalert.domain.articles import parse_article
from newsalert.domain.delivery.ids import webhook_id
from newsalert.domain.matching import Engine, prepare
from newsalert.adapters.rule_files import load_rule_file


class Template(Protocol):
    def encode(self, article_id: str) -> bytes: ...


class ExpectedAlerts:
    """(rule, subscriber) pairs per corpus article, computed once each and on demand."""

    def __init__(self, rules_path: Path, templates: list[Template]) -> None:
        ruleset = load_rule_file(rules_path)
        self.engine = Engine(ruleset.rules)
        self.notify = {rule.id: tuple(rule.notify) for rule in ruleset.rules}
        self.templates = templates
        self._pairs: dict[int, list[tuple[str, str]]] = {}

    def pairs(self, index: int) -> list[tuple[str, str]]:
        """(rule id, subscriber) of every alert corpus article ``index`` should raise."""
        if index not in self._pairs:
            # Any id will do: the id's tokens in the title tag match no generated rule (see ArticleTemplate).
            article = parse_article(json.loads(self.templates[index].encode("0")))
            matches = self.engine.match(prepare(article.title, article.body, article.source))
            self._pairs[index] = [(m.rule_id, s) for m in matches for s in self.notify[m.rule_id]]
        return self._pairs[index]

    def webhook_ids(self, id_prefix: str, published: int) -> set[str]:
        """Webhook ids owed for articles ``{id_prefix}-0`` .. ``{id_prefix}-{published - 1}``, which carry
        corpus articles in order, cycling (as ``pipeline_bench`` publishes them)."""
        count = len(self.templates)
        return {
            webhook_id(f"{id_prefix}-{seq}", rule, subscriber)
            for seq in range(published)
            for rule, subscriber in self.pairs(seq % count)
        }
