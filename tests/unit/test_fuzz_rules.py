"""Fuzzing the rule language and rule files: whatever the text, ``newsalert rules check`` (which is
``load_rule_text``) and the query parser raise nothing but a located error.

Random queries (any characters, and ones built from the language's own tokens) give either a
parsed query or a ``QuerySyntaxError`` with a column inside the query. Random YAML documents (any
text, random YAML values, and rule files with random values in every field) give either a rule set
or a ``RuleFileError`` whose every problem names the file and a line and column inside the text.
Each test prints how many cases it tried and how they ended (the table in docs/reliability.md).
"""

from __future__ import annotations

import re
from collections import Counter

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsalert.cli import main
from newsalert.domain.query.parser import parse_query
from newsalert.domain.rulefile import load_rule_text
from newsalert.errors import QuerySyntaxError, RuleFileError
from tests.support import SECRET

CASES = 400
FILE = "fuzz.yaml"
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
# What YAML counts as a line break (so positions in a value holding U+2028 or NEL are in range).
YAML_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


def _load(kind: str, text: str) -> None:
    """Load ``text`` as a rule file: a rule set or located problems, never anything else."""
    outcomes = OUTCOMES.setdefault(kind, Counter())
    try:
        load_rule_text(text, FILE, env={})
    except RuleFileError as exc:
        assert exc.problems
        lines = len(YAML_LINE_BREAK.findall(text)) + 2
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


# YAML features a rule file does not need but a file may hold: aliases (one level, chains, a bomb),
# tags, huge numbers, bad dates, flow nesting past the parser's limit, control characters.
HOSTILE = ["&a x", "*a", "&a [x, x, x]", "[*a, *a, *a]", "!!python/object/apply:os.system [ls]", "!!binary aGVsbG8=",
           "!!set {a, b}", "!!timestamp 2001-13-45", "2001-12-14t21:59:43.10-05:00", "9" * 5000, "0x" + "f" * 5000,
           "1e999", "-.inf", ".nan", "!!int x", "!!float x", "[" * 2000 + "]" * 2000, "{a: " * 100 + "1" + "}" * 100,
           "'\x00'", '"\x00\uffff"', "~", "<<: *a", "? [x]\n: y", "'" + "é" * 3000 + "'", "\t", "|\n  x\n y"]


def alias_bomb(levels: int) -> str:
    """A rule file whose lists of aliases of lists of aliases expand to 9**levels values."""
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + f"\nrules: [{{id: r, query: x, notify: *l{levels - 1}}}]\n"


@_fuzz
@given(st.lists(st.tuples(st.sampled_from(["sid", "url", "secret", "max_per_minute", "digest", "rid", "query", "notify",
                                           "language", "lists"]), st.sampled_from(HOSTILE)), min_size=1, max_size=4))
def test_rule_files_with_hostile_yaml(fields: list) -> None:
    text = rule_file_with({})
    for name, fragment in fields:
        key = {"sid": "id", "rid": "id"}.get(name, name)
        text = text.replace(f"{key}: ", f"{key}: {fragment}\n  # ", 1) if f"{key}: " in text else text + f"{key}: {fragment}\n"
    _load("hostile YAML", text)


def test_an_alias_bomb_is_a_located_error() -> None:
    with pytest.raises(RuleFileError, match="too many values through aliases") as caught:
        load_rule_text(alias_bomb(9), FILE, env={})  # 387 million values if expanded
    assert all(p.file == FILE and p.line >= 1 for p in caught.value.problems)
    # Aliases as a file would use them still work.
    reused = yaml.safe_dump({"subscribers": [{"id": "desk", "url": "https://hooks.example.org/desk", "secret": SECRET}]})
    reused += "rules:\n  - {id: r1, query: x, notify: &both [desk]}\n  - {id: r2, query: y, notify: *both}\n"
    assert [r.notify for r in load_rule_text(reused, FILE, env={}).rules] == [("desk",), ("desk",)]


@settings(max_examples=150, deadline=None, database=None)
@given(st.one_of(st.binary(max_size=400), st.text(max_size=300).map(str.encode), st.sampled_from(HOSTILE).map(str.encode)))
def test_random_bytes_through_rules_check(tmp_path_factory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("fuzz") / FILE
    path.write_bytes(data)
    result = CliRunner().invoke(main, ["rules", "check", str(path)])
    assert result.exit_code in (0, 1) and (result.exception is None or isinstance(result.exception, SystemExit)), result.output
    if result.exit_code == 1:
        assert re.search(rf"^{re.escape(str(path))}:\d+:\d+: ", result.output, re.M), result.output
    OUTCOMES.setdefault("rules check (bytes)", Counter())["located error" if result.exit_code else "valid"] += 1


def test_zz_report() -> None:
    """Print what the fuzz tests above tried (run last in this module)."""
    for kind, outcomes in OUTCOMES.items():
        print(f"\nfuzz {kind}: {sum(outcomes.values())} cases, {dict(outcomes)}")
