"""Factories of wire records with sensible defaults; every field can be overridden."""

from __future__ import annotations

from typing import Any

from newsalert.domain.alerts import new_alert
from newsalert.schemas import Alert, Article, Highlight


def article(article_id: str = "a1", **fields: Any) -> Article:
    """An article about North Korea's missiles unless ``fields`` say otherwise."""
    defaults: dict[str, Any] = {"title": "North Korea fires missiles", "body": "North Korea fired two missiles."}
    return Article(id=article_id, **{**defaults, **fields})


def make_alert(
    article_id: str = "a1", rule: str = "r1", subscriber: str = "desk", *, query: str = "North Korea AND missiles",
    highlights: list[Highlight] | None = None, ruleset_version: str = "v1", **article_fields: Any,
) -> Alert:
    """The alert of ``article(article_id, **article_fields)`` matching ``rule`` for ``subscriber``."""
    return new_alert(article(article_id, **article_fields), rule, query, subscriber, highlights, ruleset_version=ruleset_version)
