"""``newsalert rules check``: exit codes and the ``FILE:LINE:COL: message`` + caret output."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from newsalert.cli import main
from tests.support import SECRET


GOOD = f"""\
subscribers:
  - id: asia-desk
    url: https://hooks.example.org/asia
    secret: {SECRET}
rules:
  - id: nk-missiles
    query: '"North Korea" AND missile*'
    notify: [asia-desk]
  - id: kim
    query: Kim NEAR/3 Putin
"""

BAD = """\
subscribers:
  - id: asia-desk
    url: https://bob:hunter2@hooks.example.org/asia
    secret: ${ASIA_SECRET}
rules:
  - id: nk-missiles
    query: '"North Korea" AND (missile* OR'
    notify: [asia-desk, nobody]
"""


@pytest.fixture
def files(tmp_path):
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(GOOD)
    bad.write_text(BAD)
    return good, bad


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, ["rules", "check", *args], env=env or {"ASIA_SECRET": SECRET})


def test_valid_file_exits_0_with_one_ok_line(files):
    good, _ = files
    result = run(str(good))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 1
    assert re.fullmatch(rf"{re.escape(str(good))}: OK, 2 rules, 1 subscriber \(version [0-9a-f]{{12}}\)", lines[0])


def test_several_valid_files_one_line_each(files):
    good, _ = files
    result = run(str(good), "seeds/rules.yaml")
    assert result.exit_code == 0, result.output
    assert [line.split(":")[0] for line in result.output.splitlines()] == [str(good), "seeds/rules.yaml"]


def test_invalid_file_exits_1_and_prints_every_error_located(files):
    _, bad = files
    result = run(str(bad))
    assert result.exit_code == 1
    out = result.output.splitlines()
    located = [line for line in out if re.match(rf"{re.escape(str(bad))}:\d+:\d+: ", line)]
    assert [line.split(": ")[0] for line in located] == [f"{bad}:3:10", f"{bad}:7:41", f"{bad}:8:25"]
    assert "credentials" in located[0]
    assert "rule 'nk-missiles': query, column 29 of the query: OR needs a term after it" in located[1]
    assert "unknown subscriber 'nobody'" in located[2]
    # the caret excerpt follows each error, with the caret under the column
    query_line = out.index(located[1])
    assert out[query_line + 1] == "        query: '\"North Korea\" AND (missile* OR'"
    assert out[query_line + 2].index("^") == 4 + 40
    assert out[-1] == f"{bad}: 3 problems"


def test_secrets_are_never_printed(files):
    _, bad = files
    result = run(str(bad))
    assert "hunter2" not in result.output
    assert SECRET not in result.output
    literal = files[0].parent / "literal.yaml"
    literal.write_text(GOOD.replace("https://hooks", "ftp://hooks"))
    result = run(str(literal))
    assert result.exit_code == 1 and SECRET not in result.output


def test_mixed_files_exit_1_but_check_all(files):
    good, bad = files
    result = run(str(bad), str(good))
    assert result.exit_code == 1
    assert f"{good}: OK" in result.output and f"{bad}:3:10:" in result.output


def test_missing_env_variable_is_reported(files):
    good, bad = files
    result = run(str(bad), env={"ASIA_SECRET": ""})
    assert result.exit_code == 1
    result = CliRunner().invoke(main, ["rules", "check", str(bad)], env={"ASIA_SECRET": None})
    assert f"{bad}:4:13: subscriber 'asia-desk': environment variable ASIA_SECRET is not set" in result.output


def test_missing_file_is_a_located_error(tmp_path):
    missing = tmp_path / "nope.yaml"
    result = run(str(missing))
    assert result.exit_code == 1
    assert result.output.splitlines()[0].startswith(f"{missing}:1:1: cannot read rule file")


def test_invalid_yaml_is_a_located_error(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("rules:\n  - id: a\n    query: x\n   oops: 1\n")
    result = run(str(path))
    assert result.exit_code == 1
    first = result.output.splitlines()[0]
    assert first.startswith(f"{path}:4:4: invalid YAML:")


def test_no_file_is_a_usage_error():
    result = CliRunner().invoke(main, ["rules", "check"])
    assert result.exit_code == 2
