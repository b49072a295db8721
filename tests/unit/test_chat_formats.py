"""Slack, Teams and Discord bodies: each valid against its documented JSON Schema (docs/chat/), for
alerts and digests whose text holds every format's markup characters, which reach the reader as
text and never as markup, mentions or links."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path

import jsonschema
import pytest

from newsalert.domain.alerts import new_alert, new_digest
from newsalert.domain.chat import CHAT_FORMATS, chat_body, chat_message
from newsalert.domain.chat import discord, slack
from newsalert.schemas import Article, Highlight

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "chat"
HOSTILE = "*bold* _it_ ~x~ `code` <!channel> <@U123> @everyone [x](https://evil.example) # h &amp; | > q\n1. list"


def _schema(fmt: str) -> dict:
    return json.loads((SCHEMAS / f"{fmt}.schema.json").read_text())


def _alert(title: str = "North Korea missiles & <launch> *test*", body: str = f"North Korea fired missiles. {HOSTILE}", subscriber: str = "desk", n: int = 0):
    article = Article(
        id=f"a{n}", title=title, body=body, url="https://news.example.org/a?x=1&y=(2)|z",
        source=f"Wire {HOSTILE[:20]}", published=datetime(2026, 12, 4, 9, 30, tzinfo=timezone.utc),
    )
    highlights = [Highlight(field="title", text="North Korea", start=0, end=11), Highlight(field="body", text="missiles", start=18, end=26)]
    alert = new_alert(article, "nk-missiles", "North Korea AND missiles", subscriber, highlights, ruleset_version="v1")
    # The alert as a producer may send it: text not cleaned (the wire model does not require it).
    summary = alert.article.model_copy(update={"title": title, "excerpt": body[:500]})
    return alert.model_copy(update={"article": summary})


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


@pytest.mark.parametrize("fmt", CHAT_FORMATS)
def test_alert_and_digest_bodies_match_their_schema(fmt: str) -> None:
    validator = jsonschema.Draft202012Validator(_schema(fmt), format_checker=jsonschema.FormatChecker())
    alert = _alert()
    digest = new_digest("desk", 1_764_000_000, 1_764_000_900, [_alert(n=i) for i in range(100)])
    for item in (alert, digest):
        message = json.loads(chat_body(fmt, item))
        assert message == chat_message(fmt, item)
        errors = [e.message for e in validator.iter_errors(message)]
        assert not errors, errors[:3]


def test_slack_escapes_control_and_formatting_characters() -> None:
    message = chat_message("slack", _alert())
    texts = _strings(message)
    for text in texts:
        assert "<!channel>" not in text and "<@U123>" not in text
    excerpt = message["blocks"][1]["text"]["text"]
    assert "*missiles*" in excerpt  # the highlight, in bold
    assert "&lt;!channel&gt;" in excerpt and "&amp;amp;" in excerpt
    assert "\u200b*bold\u200b*" in excerpt and "\u200b`code\u200b`" in excerpt  # neutralised
    title = message["blocks"][0]["text"]["text"]
    assert title.startswith("*<https://news.example.org/a?x=1&y=(2)%7Cz|")
    assert "&lt;launch&gt;" in title and "\u200b*test\u200b*" in title
    assert slack.escape("<>&*") == "&lt;&gt;&amp;\u200b*"


def test_teams_puts_text_only_in_text_runs() -> None:
    message = chat_message("teams", _alert())
    card = message["attachments"][0]["content"]
    assert message["type"] == "message" and message["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    runs = [run for block in card["body"] for run in block["inlines"]]
    assert all(block["type"] == "RichTextBlock" for block in card["body"])
    bold = [r["text"] for r in runs if r.get("weight") == "Bolder"]
    assert "North Korea" in bold and "missiles" in bold
    assert any(HOSTILE.split("\n")[0] in r["text"] for r in runs)  # shown as written: runs read no markdown
    assert card["actions"][0]["url"] == "https://news.example.org/a?x=1&y=(2)|z"


def test_discord_escapes_markdown_and_turns_mentions_off() -> None:
    message = chat_message("discord", _alert())
    assert message["allowed_mentions"] == {"parse": []}
    embed = message["embeds"][0]
    assert "**missiles**" in embed["description"]
    assert r"\*bold\*" in embed["description"] and r"\@everyone" in embed["description"]
    assert r"\[x\]\(https\:" in embed["description"] and "\n1\\. list" in embed["description"]
    assert r"\<launch\>" in embed["title"] and embed["url"].startswith("https://news.example.org/")
    assert {f["name"] for f in embed["fields"]} == {"Source", "Rule", "Matched"}
    for text in _strings(message):
        assert not re.search(r"(?<!\\)@everyone", text)


def test_discord_fit_never_cuts_an_escape() -> None:
    text = "*" * 5000
    fitted = discord.fit(text, 256)
    assert len(fitted) <= 256 and fitted.endswith("…") and not fitted[:-1].endswith("\\")
    assert discord.fit("plain", 256) == "plain"


def test_digest_lists_its_alerts() -> None:
    digest = new_digest("desk", 1_764_000_000, 1_764_000_900, [_alert(title=f"Story {i}", n=i) for i in range(3)])
    slack_blocks = chat_message("slack", digest)["blocks"]
    assert slack_blocks[0]["text"]["text"].startswith("*3 alerts*") and len(slack_blocks) == 4
    teams_runs = [r["text"] for b in chat_message("teams", digest)["attachments"][0]["content"]["body"] for r in b["inlines"]]
    assert all(f"Story {i}" in teams_runs for i in range(3))
    description = chat_message("discord", digest)["embeds"][0]["description"]
    assert description.count("• [Story") == 3


def test_unknown_format_is_a_bug() -> None:
    with pytest.raises(ValueError):
        chat_message("irc", _alert())


@pytest.mark.parametrize("fmt", CHAT_FORMATS)
def test_largest_hostile_alert_stays_within_the_limits(fmt: str) -> None:
    validator = jsonschema.Draft202012Validator(_schema(fmt), format_checker=jsonschema.FormatChecker())
    alert = _alert()
    summary = alert.article.model_copy(update={
        "title": "&<*" * 333, "excerpt": "&_>" * 166, "url": "https://e.org/" + "|" * 2000, "source": "&" * 200,
    })
    rule = alert.rule.model_copy(update={"id": "r" * 256, "query": "&" * 10_000})
    terms = [Highlight(field="body", text=f"&term{i}" * 50, start=i, end=i + 1) for i in range(200)]
    big = alert.model_copy(update={"article": summary, "rule": rule, "highlights": terms})
    for item in (big, new_digest("desk", 1_764_000_000, 1_764_000_900, [big] * 100)):
        message = chat_message(fmt, item)
        errors = [e.message[:200] for e in validator.iter_errors(message)]
        assert not errors, errors[:3]
        if fmt == "discord":
            assert discord.embed_chars(message["embeds"][0]) <= discord.EMBED_TOTAL_MAX
        if fmt == "teams":
            assert len(json.dumps(message).encode()) <= 28_000  # Teams refuses larger cards
