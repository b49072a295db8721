"""The seeds: every record is a valid Article, the seed article keeps its text verbatim, the test
stream covers the cases it is meant to exercise, and the example rule file is coherent."""

from __future__ import annotations

import base64
import json
import re
from functools import lru_cache
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from newsalert.domain.query.parser import parse_query
from newsalert.schemas import Article, error_messages

REPO = Path(__file__).resolve().parents[2]
SEEDS = REPO / "seeds"
SEED_ID = "000_55da5f90b11d3137"
SEED_JSON = SEEDS / "articles" / f"{SEED_ID}.json"
SEED_ORIGINAL = REPO.parent / "shared" / "seeds" / f"{SEED_ID}.txt"
STREAM = SEEDS / "test_stream.jsonl"
RULES = SEEDS / "rules.yaml"


def _stream_records() -> list[dict]:
    return [json.loads(line) for line in STREAM.read_text(encoding="utf-8").splitlines() if line.strip()]


def _stream_articles() -> list[Article]:
    return [Article.model_validate(record) for record in _stream_records()]


# --- every file is valid ------------------------------------------------------------------------


def test_every_seed_record_is_a_valid_article():
    problems = []
    for path in sorted(SEEDS.rglob("*.json")):
        try:
            Article.model_validate_json(path.read_bytes())
        except ValidationError as exc:
            problems.append(f"{path}: {error_messages(exc)}")
    for number, line in enumerate(STREAM.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            Article.model_validate_json(line)
        except ValidationError as exc:
            problems.append(f"{STREAM}:{number}: {error_messages(exc)}")
    assert not problems, "\n".join(problems)
    assert SEED_JSON.is_file()


# --- the seed article -----------------------------------------------------------------------------


def test_seed_article_fields():
    article = Article.model_validate_json(SEED_JSON.read_bytes())
    assert article.id == SEED_ID
    assert article.title == "Korea North supplies missiles to Russia, White House says | War in Ukraine"
    assert article.published is not None and article.published.date().isoformat() == "2024-02-25"
    assert article.url is None


@pytest.mark.parametrize(
    "debris",
    [
        "Open full screen\n\nJohn Kirby",
        "according to the White House.< /p>",
        '< p class="StyledBodyHtmlParagraph-sc-48221190-4 hnvfyV">The United States and its allies',
        "Open in mode full screen",
        "By admin\n\nRelated Post",
        "“consequent and worrying escalation”",
    ],
)
def test_seed_article_body_keeps_its_text_and_debris_verbatim(debris):
    article = Article.model_validate_json(SEED_JSON.read_bytes())
    assert debris in article.body


def test_seed_article_body_equals_the_original_after_the_headline():
    if not SEED_ORIGINAL.is_file():
        pytest.skip(f"original seed not present at {SEED_ORIGINAL}")
    raw = SEED_ORIGINAL.read_text(encoding="utf-8")
    dateline, _, headline, _, rest = raw.split("\n", 4)
    article = Article.model_validate_json(SEED_JSON.read_bytes())
    assert dateline == "Sun. Feb 25th, 2024"
    assert article.title == headline
    assert article.body == rest


# --- the test stream ------------------------------------------------------------------------------


def test_stream_has_at_least_40_briefs():
    assert len(_stream_records()) >= 40


def test_stream_repeats_a_story_with_the_same_id_and_under_another_id():
    records = _stream_records()
    ids = [r["id"] for r in records]
    assert len(ids) - len(set(ids)) >= 1, "no record repeats an id"
    seen: dict[tuple, str] = {}
    same_story_new_id = False
    for r in records:
        story = (r.get("title"), r.get("body"))
        if story in seen and seen[story] != r["id"]:
            same_story_new_id = True
        seen.setdefault(story, r["id"])
    assert same_story_new_id, "no story appears under two different ids"


def _all_text(articles: list[Article]) -> str:
    return "\n".join(f"{a.title or ''}\n{a.body or ''}" for a in articles)


@pytest.mark.parametrize(
    "needle",
    [
        "South Korea", "North Dakota", "Korea North", "North Korean", "North-Korea", "North\nKorea",
        "missile ", "missiles", "Zélensky", "Zelensky", "Straße", "Strassen",
        "AT&amp;T", "&mdash;", "&#39;", "<b>", "<p>", '<a href="',
        "NORTH KOREA",
    ],
)
def test_stream_exercises_matching_edge_cases(needle):
    assert needle in _all_text(_stream_articles())


def test_stream_has_other_languages_sources_and_missing_fields():
    articles = _stream_articles()
    languages = {a.language.split("-")[0] for a in articles if a.language}
    assert {"en", "fr", "de", "es"} <= languages
    assert len({a.source for a in articles}) >= 4
    assert any(a.title is None for a in articles) and any(a.body is None for a in articles)
    assert any(a.metadata for a in articles), "no record carries extra keys into metadata"


# --- rules.yaml -----------------------------------------------------------------------------------


def _rule_file() -> dict:
    return yaml.safe_load(RULES.read_text(encoding="utf-8"))


def test_rules_include_north_korea_and_missiles():
    queries = {r["id"]: r["query"] for r in _rule_file()["rules"]}
    assert queries.get("nk-missiles") == "North Korea AND missiles"


def test_rules_use_every_part_of_the_language():
    queries = " ".join(r["query"] for r in _rule_file()["rules"])
    for feature in ['"', "*", "NEAR/", "ONEAR/", "title:", "source:", "NOT", " OR ", "(", " -"]:
        assert feature in queries, f"no seed rule uses {feature!r}"


def test_every_rule_query_parses_and_notifies_known_subscribers():
    data = _rule_file()
    subscribers = {s["id"] for s in data["subscribers"]}
    ids = [r["id"] for r in data["rules"]]
    assert len(ids) == len(set(ids))
    assert 8 <= len(ids) <= 14
    for rule in data["rules"]:
        parse_query(rule["query"])
        assert rule["notify"] and set(rule["notify"]) <= subscribers, rule["id"]
    notified = {s for r in data["rules"] for s in r["notify"]}
    assert notified == subscribers, "a subscriber receives nothing"


def test_subscribers_point_at_the_demo_sink_with_demo_secrets():
    subscribers = _rule_file()["subscribers"]
    assert 2 <= len(subscribers) <= 6
    for sub in subscribers:
        assert sub["url"] == f"http://127.0.0.1:8787/hooks/{sub['id']}"
        match = re.fullmatch(r"whsec_([A-Za-z0-9+/=]+)", sub["secret"])
        assert match, f"{sub['id']}: secret is not whsec_<base64>"
        assert len(base64.b64decode(match.group(1), validate=True)) >= 24
    assert "DEMO ONLY" in RULES.read_text(encoding="utf-8")


# --- the seeds do what their descriptions claim (through the real engine) --------------------------


@lru_cache(maxsize=1)
def _matches_by_article() -> dict[str, set[str]]:
    from dataclasses import dataclass

    from newsalert.domain.matching.document import prepare
    from newsalert.domain.matching.engine import Engine

    @dataclass(frozen=True)
    class _Rule:
        id: str
        query: str
        node: object

    rules = [_Rule(r["id"], r["query"], parse_query(r["query"])) for r in _rule_file()["rules"]]
    engine = Engine(rules)
    articles = [Article.model_validate_json(SEED_JSON.read_bytes()), *_stream_articles()]
    return {a.id: {m.rule_id for m in engine.match(prepare(a.title, a.body, a.source))} for a in articles}


@pytest.mark.parametrize(
    ("article_id", "matching", "not_matching"),
    [
        (SEED_ID, {"nk-missiles", "nk-missile-phrase"}, set()),
        ("ts-002", {"nk-missile-phrase"}, {"nk-missiles"}),  # singular: no stemming
        ("ts-003", {"south-korea-only"}, {"nk-missiles", "nk-missile-phrase"}),
        ("ts-004", set(), {"nk-missiles", "nk-missile-phrase"}),  # North Dakota, Korean
        ("ts-005", {"nk-missiles"}, {"nk-missile-phrase"}),  # "Korea North": words, not the phrase
        ("ts-009", {"zelensky-headline"}, set()),  # Zélensky folded
        ("ts-010", set(), {"zelensky-headline"}),  # body only
        ("ts-013", {"berlin-streets"}, set()),
        ("ts-019", set(), {"northwind-oil"}),  # the name in the body is not the source
        ("ts-021", set(), {"chip-exports"}),  # wrong order for ONEAR
        ("ts-025", set(), {"ukraine-aid"}),  # NOT Olympics
        ("ts-008", set(), {"telecom-carriers"}),  # "at T-Mobile" is not the name AT&T
        ("ts-028", {"telecom-carriers"}, set()),  # AT&amp;T decoded
        ("ts-029", set(), {"nk-missiles", "nk-missile-phrase"}),  # words only in a tag attribute
        ("ts-032", set(), {"nk-missiles", "nk-missile-phrase"}),  # "North Korean"
        ("ts-034", {"nk-missile-phrase"}, set()),  # phrase across a line break
    ],
)
def test_stream_briefs_match_as_designed(article_id, matching, not_matching):
    found = _matches_by_article()[article_id]
    assert matching <= found, f"{article_id}: expected {matching}, got {found}"
    assert not (not_matching & found), f"{article_id}: unexpected {not_matching & found}"


@pytest.mark.parametrize("path", [RULES, REPO / "deploy" / "compose" / "rules.yaml"])
def test_rule_files_load_without_any_environment(path):
    from newsalert.adapters.rule_files import load_rule_file

    ruleset = load_rule_file(path, env={})
    assert [r.id for r in ruleset.rules][0] == "nk-missiles"
    assert len(ruleset.rules) == len(_rule_file()["rules"])
