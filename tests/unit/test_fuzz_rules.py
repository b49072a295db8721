"""Fuzzing the rule language and rule files: whatever the text, ``newsalert rules check`` (which is
``load_rule_text``) and the query parser raise nothing but a located error.

Random queries (any characters, and ones built from the language's own tokens) give either a
parsed query or a ``QuerySyntaxError`` with a column inside the query. Random YAML documents (any
text, random YAML values, and rule files with random values in every field) give either a rule set
or a ``RuleFileError`` whose every problem names the file and a line and column inside the text.
Each test prints how many cases it tried and how they ended (the table in docs/reliability.md).
"""

from __future__ import annotations

from collections import Counter

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsalert.domain.query.parser import parse_query
from newsalert.domain.rulefile import load_rule_text
from newsalert.errors import QuerySyntaxError, RuleFileError

CASES = 400
FILE = "fuzz.yaml"
SECRET = "whsec_jqKa/frLjjr7/1qzAZgH8OHtWoFZf3Kc"
TOKENS = ["AND", "OR", "NOT", "NEAR/3", "NEAR/x", "(", ")", '"', "*", "?", "title:", "body:", "lang:en", "@list",
          "missile*", "Paris", "-", "+", ":", "~", "\\", "\x00", "é", "日本", " ", "\n", "\t"]
_fuzz = settings(max_examples=CASES, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)

queries = st.one_of(st.text(max_size=200), st.lists(st.sampled_from(TOKENS), max_size=30).map(" ".join),
                    st.lists(st.sampled_from(TOKENS), max_size=30).map("".join))
yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25,
)
field_values = st.one_of(st.none(), st.integers(-5, 10**12), st.text(max_size=60), st.lists(st.text(max_size=20), max_size=4),
                         st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3), queries)


def rule_file_with(values: dict) -> str:
    """A rule file whose fields are random values (keys missing when the value is absent)."""
    subscriber = {"id": values.get("sid", "desk"), "url": values.get("url", "https://hooks.example.org/desk"),
                  "secret": values.get("secret", SECRET)}
    for key in ("max_per_minute", "digest", "format", "description"):
        if key in values:
            subscriber[key] = values[key]
    rule = {"id": values.get("rid", "r1"), "query": values.get("query", "Paris"), "notify": values.get("notify", ["desk"])}
    for key in ("language", "fields", "sources"):
        if key in values:
            rule[key] = values[key]
    document = {"subscribers": [subscriber], "rules": [rule]}
    if "lists" in values:
        document["lists"] = values["lists"]
    return yaml.safe_dump(document, allow_unicode=True)


OUTCOMES: dict[str, Counter] = {}


def _load(kind: str, text: str) -> None:
    """Load ``text`` as a rule file: a rule set or located problems, never anything else."""
    outcomes = OUTCOMES.setdefault(kind, Counter())
    try:
        load_rule_text(text, FILE, env={})
    except RuleFileError as exc:
        assert exc.problems
        lines = text.count("\n") + 2
        for problem in exc.problems:
            assert problem.file == FILE and 1 <= problem.line <= lines and problem.column >= 1, problem
            assert SECRET not in problem.render()
        outcomes["located error"] += 1
    else:
        outcomes["valid"] += 1


@_fuzz
@given(queries)
def test_random_queries_parse_or_give_a_located_syntax_error(query: str) -> None:
    outcomes = OUTCOMES.setdefault("query", Counter())
    try:
        parse_query(query)
    except QuerySyntaxError as exc:
        assert 1 <= exc.column <= len(query) + 1, (query, exc.column)
        assert exc.excerpt()  # the caret line can always be drawn
        outcomes["located error"] += 1
    else:
        outcomes["valid"] += 1


@_fuzz
@given(st.text(max_size=300))
def test_random_text_as_a_rule_file(text: str) -> None:
    _load("text", text)


@_fuzz
@given(yaml_values)
def test_random_yaml_documents_as_a_rule_file(value) -> None:
    _load("yaml", yaml.safe_dump(value, allow_unicode=True))


@_fuzz
@given(st.dictionaries(st.sampled_from(["sid", "url", "secret", "max_per_minute", "digest", "format", "description",
                                        "rid", "query", "notify", "language", "fields", "sources", "lists"]),
                       field_values, max_size=6))
def test_rule_files_with_random_field_values(values: dict) -> None:
    _load("fields", rule_file_with(values))


def test_zz_report() -> None:
    """Print what the fuzz tests above tried (run last in this module)."""
    for kind, outcomes in OUTCOMES.items():
        print(f"\nfuzz {kind}: {sum(outcomes.values())} cases, {dict(outcomes)}")
