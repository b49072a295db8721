"""The YAML rule-file loader: a valid file, and every kind of problem located at its line and column."""

from __future__ import annotations

import textwrap

import pytest

from newsalert.domain.query.ast import And, Term
from newsalert.adapters.rule_files import load_rule_file
from newsalert.domain.rulefile import (
    CompiledRule,
    Problem,
    RuleFileError,
    compile_rule,
    load_rule_text,
    redact,
)
from newsalert.errors import InputError, QuerySyntaxError
from newsalert.schemas.rules import Rule
from tests.support import OTHER_SECRET, SECRET

ENV = {"ASIA_SECRET": SECRET}

VALID = """\
subscribers:
  - id: asia-desk
    url: https://hooks.example.org/asia
    secret: ${ASIA_SECRET}      # from the environment
  - id: europe-desk
    url: http://hooks.example.org/eu?token=abc
    secret: [whsec_jqKa/frLjjr7/1qzAZgH8OHtWoFZf3Kc, whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw]
    description: rotating its secret
rules:
  - id: nk-missiles
    query: '"North Korea" AND missile*'
    notify: [asia-desk]
    description: optional free text
  - id: no-notify
    query: Korea
"""


def load(text: str, env=ENV, filename="rules.yaml"):
    return load_rule_text(textwrap.dedent(text), filename, env)


def problems(text: str, env=ENV) -> list[Problem]:
    with pytest.raises(RuleFileError) as info:
        load(text, env)
    return info.value.problems


def one_problem(text: str, env=ENV) -> Problem:
    found = problems(text, env)
    assert len(found) == 1, [p.render() for p in found]
    return found[0]


# --- a valid file -------------------------------------------------------------------------------
def test_valid_file_gives_compiled_rules_in_file_order():
    rs = load(VALID)
    assert [r.id for r in rs.rules] == ["nk-missiles", "no-notify"]
    first = rs.rules[0]
    assert isinstance(first, CompiledRule)
    assert first.query == '"North Korea" AND missile*'
    assert isinstance(first.node, And)
    assert first.node.children[0] == Term(("north", "korea"), False, None, '"North Korea"', 0, 13)
    assert first.notify == ("asia-desk",)
    assert first.description == "optional free text"
    assert first.line == 10
    assert rs.rules[1].notify == () and rs.rules[1].description is None and rs.rules[1].line == 14
    assert rs.source == "rules.yaml"


def test_subscribers_by_id_with_secrets_from_env_and_rotation():
    rs = load(VALID)
    assert list(rs.subscribers) == ["asia-desk", "europe-desk"]
    assert rs.subscribers["asia-desk"].secret_values() == (SECRET,)
    assert rs.subscribers["europe-desk"].secret_values() == (SECRET, OTHER_SECRET)
    assert len(rs.subscribers["europe-desk"].secret_keys()[0]) == 24


def test_secrets_never_in_repr():
    rs = load(VALID)
    assert SECRET not in repr(rs) and OTHER_SECRET not in repr(rs)
    assert SECRET not in rs.subscribers["asia-desk"].model_dump_json()


def test_version_is_stable_and_follows_content():
    a, b = load(VALID), load(VALID)
    assert a.version == b.version and len(a.version) == 12
    assert load(VALID.replace("missile*", "missiles")).version != a.version
    # a rotated secret is a change too
    assert load(VALID, env={"ASIA_SECRET": OTHER_SECRET}).version != a.version
    # comments and layout are not content
    assert load(VALID.replace("# from the environment", "")).version == a.version


def test_load_rule_file_reads_a_path(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(VALID)
    rs = load_rule_file(path, env=ENV)
    assert rs.source == str(path) and len(rs.rules) == 2


def test_seed_rule_file_is_valid():
    rs = load_rule_file("seeds/rules.yaml", env={})
    assert len(rs.rules) >= 1 and rs.subscribers


def test_empty_rules_list_and_null_sections_are_valid():
    assert load("rules: []\n").rules == ()
    rs = load("subscribers:\nrules:\n")
    assert rs.rules == () and rs.subscribers == {}


def test_compile_rule_for_api_use():
    compiled = compile_rule(Rule(id="r", query="a OR b", notify=["x"]), line=3)
    assert compiled.id == "r" and compiled.notify == ("x",) and compiled.line == 3
    with pytest.raises(QuerySyntaxError):
        compile_rule(Rule(id="r", query="NOT a"))


# --- environment variables ----------------------------------------------------------------------
def test_missing_env_variable_names_it_and_its_line():
    p = one_problem(VALID, env={})
    assert (p.line, p.column) == (4, 13)
    assert "ASIA_SECRET" in p.message and "not set" in p.message


def test_bad_variable_syntax_and_literal_dollar():
    p = one_problem(
        """\
        subscribers:
          - id: s
            url: https://x.org/${not a name}
            secret: whsec_jqKa/frLjjr7/1qzAZgH8OHtWoFZf3Kc
        rules: []
        """
    )
    assert (p.line, p.column) == (3, 24) and "not a variable name" in p.message
    rs = load(
        """\
        subscribers:
          - id: s
            url: https://x.org/$${HOOK}
            secret: ${ASIA_SECRET}
        rules: []
        """
    )
    assert rs.subscribers["s"].url == "https://x.org/${HOOK}"


def test_queries_are_not_substituted():
    rs = load("rules:\n  - id: r\n    query: price ${ASIA_SECRET}\n")
    assert rs.rules[0].query == "price ${ASIA_SECRET}"


# --- structure: unknown keys, missing keys, duplicates ----------------------------------------------
def test_unknown_keys_are_errors_naming_key_and_line():
    found = problems(
        """\
        subscribers:
          - id: s
            url: https://x.org/h
            secret: ${ASIA_SECRET}
            colour: red
        rules:
          - id: r
            qurey: Korea
        version: 2
        """
    )
    rendered = [(p.line, p.column, p.message) for p in found]
    assert (5, 5) == rendered[0][:2] and "unknown key 'colour'" in rendered[0][2]
    assert any(line == 7 and "missing required key 'query'" in msg for line, _, msg in rendered)
    assert any(
        (line, col) == (8, 5) and "unknown key 'qurey'" in msg and "did you mean 'query'" in msg
        for line, col, msg in rendered
    )
    assert any((line, col) == (9, 1) and "unknown key 'version'" in msg for line, col, msg in rendered)


def test_rule_id_and_query_are_required():
    found = problems("rules:\n  - query: Korea\n  - id: r2\n")
    assert [(p.line, p.message) for p in found] == [
        (2, "rule #1: missing required key 'id'"),
        (3, "rule 'r2': missing required key 'query'"),
    ]


def test_wrong_types_are_located():
    found = problems("rules:\n  - id: 42\n    query: Korea\n    notify: asia\n")
    assert [(p.line, p.column) for p in found] == [(2, 9), (4, 13)]
    assert "id must be a string" in found[0].message
    assert "notify must be a list" in found[1].message


def test_duplicate_ids():
    found = problems(
        """\
        subscribers:
          - {id: s, url: "https://x.org", secret: "${ASIA_SECRET}"}
          - {id: s, url: "https://y.org", secret: "${ASIA_SECRET}"}
        rules:
          - id: r
            query: a
          - id: r
            query: b
        """
    )
    assert [(p.line, p.column) for p in found] == [(3, 10), (7, 9)]
    assert found[0].message == "duplicate subscriber id 's' (first defined at line 2)"
    assert found[1].message == "duplicate rule id 'r' (first defined at line 5)"


def test_notify_must_name_known_subscribers_once():
    found = problems(
        """\
        subscribers:
          - {id: s, url: "https://x.org", secret: "${ASIA_SECRET}"}
        rules:
          - id: r
            query: a
            notify: [s, nobody, s]
        """
    )
    assert [(p.line, p.column) for p in found] == [(6, 17), (6, 25)]
    assert "unknown subscriber 'nobody' (known: s)" in found[0].message
    assert "lists 's' twice" in found[1].message


# --- subscriber URLs and secrets ----------------------------------------------------------------
@pytest.mark.parametrize(
    "url, fragment",
    [
        ("ftp://x.org/h", "scheme must be http or https"),
        ("file:///etc/passwd", "scheme must be http or https"),
        ("x.org/h", "scheme must be http or https"),
        ("https:///h", "no host"),
        ("https://x.org:99999/h", "invalid port"),
        ("https://x.org/a b", "spaces"),
    ],
)
def test_bad_urls_are_located(url, fragment):
    p = one_problem(f"subscribers:\n  - id: s\n    url: '{url}'\n    secret: ${{ASIA_SECRET}}\nrules: []\n")
    assert (p.line, p.column) == (3, 10)
    assert fragment in p.message


def test_url_with_credentials_is_refused_without_showing_them():
    p = one_problem("subscribers:\n  - id: s\n    url: https://bob:hunter2@x.org/h\n    secret: ${ASIA_SECRET}\nrules: []\n")
    assert p.line == 3 and "credentials" in p.message
    assert "hunter2" not in p.render()
    assert "https://***@x.org/h" in p.excerpt


def test_url_with_credentials_from_env_is_refused_without_showing_them():
    env = {**ENV, "HOOK": "https://bob:hunter2@x.org/h"}
    p = one_problem("subscribers:\n  - id: s\n    url: ${HOOK}\n    secret: ${ASIA_SECRET}\nrules: []\n", env=env)
    assert p.line == 3 and "credentials" in p.message and "hunter2" not in p.render()


@pytest.mark.parametrize(
    "secret, fragment",
    [
        ("hunter2hunter2", "whsec_"),  # plain strings are refused (they are even valid base64)
        ("whsec_!!!notbase64", "not valid base64"),
        ("whsec_c2hvcnQ=", "24 to 64 bytes"),  # "short"
    ],
)
def test_bad_literal_secrets_are_refused_and_never_shown(secret, fragment):
    p = one_problem(f"subscribers:\n  - id: s\n    url: https://x.org\n    secret: {secret}\nrules: []\n")
    assert (p.line, p.column) == (4, 13) and fragment in p.message
    assert secret not in p.render()
    assert secret.removeprefix("whsec_") not in p.render()


def test_bad_secret_from_env_is_never_shown():
    env = {"ASIA_SECRET": "whsec_c2VjcmV0c2VjcmV0"}  # valid base64, too short
    with pytest.raises(RuleFileError) as info:
        load(VALID, env=env)
    assert "c2VjcmV0c2VjcmV0" not in str(info.value)
    assert info.value.problems[0].line == 4


def test_at_most_two_secrets():
    p = one_problem(f"subscribers:\n  - id: s\n    url: https://x.org\n    secret: [{SECRET}, {OTHER_SECRET}, {SECRET}]\nrules: []\n")
    assert p.line == 4 and "at most 2" in p.message
    assert SECRET not in p.render() and OTHER_SECRET not in p.render()


def test_secret_is_required():
    p = one_problem("subscribers:\n  - id: s\n    url: https://x.org\nrules: []\n")
    assert p.line == 2 and "missing required key 'secret'" in p.message


def test_yaml_syntax_error_on_a_secret_line_does_not_show_it():
    found = problems(f"subscribers:\n  - id: s\n    url: https://x.org\n    secret: {SECRET} : [\nrules: []\n")
    assert all(SECRET not in p.render() for p in found)


def test_redact():
    assert redact(f"    secret: {SECRET}") == "    secret: ***"
    assert redact(f"    - {SECRET}") == "    - whsec_***"
    assert redact("    secret: plainpassword  # note") == "    secret: ***# note"
    assert redact("    secret: ${VAR}") == "    secret: ${VAR}"
    assert redact("url: https://u:p@h/x") == "url: https://***@h/x"


# --- query errors located in the file -------------------------------------------------------------
def test_query_error_in_plain_scalar_points_at_the_character():
    p = one_problem("rules:\n  - id: r\n    query: a OR NOT b\n")
    assert (p.line, p.column) == (3, 17)
    assert p.message.startswith("rule 'r': query, column 6 of the query: this side of OR only excludes")
    assert p.excerpt == "    query: a OR NOT b\n                ^"


def test_query_error_in_single_quoted_scalar_counts_doubled_quotes():
    p = one_problem("rules:\n  - id: r\n    query: 'it''s (a OR'\n")
    assert (p.line, p.column) == (3, 22)
    assert p.excerpt.splitlines()[1].index("^") == 21


def test_query_error_in_double_quoted_scalar():
    p = one_problem('rules:\n  - id: r\n    query: "x AND"\n')
    assert (p.line, p.column) == (3, 15)


def test_query_error_in_literal_block_points_at_its_line():
    p = one_problem("rules:\n  - id: r\n    query: |\n      Korea\n      AND (x OR\n")
    assert (p.line, p.column) == (5, 14)
    assert p.excerpt == "      AND (x OR\n             ^"


def test_query_error_in_folded_block_gives_the_column_in_the_query():
    p = one_problem("rules:\n  - id: r\n    query: >\n      Korea\n      AND (x OR\n")
    assert p.line == 3 and p.column == 14
    assert "column 14 of the query" in p.message
    assert p.excerpt == "Korea AND (x OR\n             ^"


def test_query_error_with_escapes_falls_back_to_query_column():
    p = one_problem('rules:\n  - id: r\n    query: "\\u0041 OR"\n')
    assert p.line == 3 and p.column == 3 and "column 3 of the query" in p.message


# --- every problem, not only the first ------------------------------------------------------------
def test_all_problems_are_reported_in_file_order():
    text = """\
    subscribers:
      - id: s
        url: ftp://x.org
        secret: ${MISSING}
    rules:
      - id: a
        query: (x
      - id: b
        query: y
        notify: [nobody]
      - id: c
        query: ok
        extra: 1
    """
    found = problems(text)
    assert [p.line for p in found] == [3, 4, 7, 10, 13]
    assert isinstance(RuleFileError(found), InputError)
    rendered = str(RuleFileError(found))
    assert rendered.splitlines()[0].startswith("rules.yaml:3:10: subscriber 's': url:")


# --- the file itself ------------------------------------------------------------------------------
def test_invalid_yaml_is_located():
    p = one_problem("rules:\n  - id: a\n    query: [x\n")
    assert p.line == 3 and p.message.startswith("invalid YAML:")
    assert "line 3, column 12" in p.message


def test_duplicate_yaml_key_is_an_error():
    p = one_problem("rules:\n  - id: a\n    query: x\n    query: y\n")
    assert (p.line, p.column) == (4, 5) and "duplicate key 'query' (first at line 3)" in p.message


@pytest.mark.parametrize(
    "text, line, fragment",
    [
        ("", 1, "empty rule file"),
        ("# only a comment\n", 1, "empty rule file"),
        ("- a\n- b\n", 1, "is a mapping"),
        ("subscribers: []\n", 1, "no 'rules:'"),
        ("rules: Korea\n", 1, "must be a list"),
        ("rules:\n  - Korea\n", 2, "must be a mapping"),
        ("rules:\n  - id: a\n    query: x\n  - &x {id: b, query: y}\n  - <<: *x\n", 5, "merge keys"),
        ("rules:\n  - id: !!python/name:os.system a\n", 2, "invalid YAML"),
    ],
)
def test_bad_file_shapes(text, line, fragment):
    p = one_problem(text)
    assert p.line == line and fragment in p.message


def test_missing_file_is_a_located_error(tmp_path):
    with pytest.raises(RuleFileError) as info:
        load_rule_file(tmp_path / "absent.yaml")
    (p,) = info.value.problems
    assert (p.file, p.line, p.column) == (str(tmp_path / "absent.yaml"), 1, 1)
    assert "cannot read" in p.message


def test_invalid_utf8_is_located(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_bytes(b"rules:\n  - id: a\n    query: caf\xe9\n")
    with pytest.raises(RuleFileError) as info:
        load_rule_file(path)
    (p,) = info.value.problems
    assert (p.line, p.column) == (3, 15) and "UTF-8" in p.message


def test_problem_render_format():
    p = Problem("f.yaml", 3, 7, "bad thing", "line\n      ^")
    assert p.render() == "f.yaml:3:7: bad thing\n    line\n          ^"
    assert Problem("f.yaml", 1, 1, "x").render() == "f.yaml:1:1: x"
