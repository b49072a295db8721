"""Rule files on disk: read as UTF-8 and loaded with the process environment for ``${VAR}``.

Everything else -- YAML with positions, the models, every check -- is the domain's
(``newsalert.domain.rulefile``, and ``newsalert.domain.rule_items`` for reloads that read only the
changed rules); this module is the only place that touches the file system and ``os.environ`` for
a rule file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from newsalert.domain.rule_items import RuleFileReader
from newsalert.domain.rulefile import Problem, RuleSet, load_rule_text
from newsalert.errors import RuleFileError


def read_rule_text(path: str | os.PathLike[str]) -> str:
    """The text of the rule file at ``path`` (``RuleFileError`` if unreadable or not UTF-8)."""
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise RuleFileError([Problem(name, 1, 1, f"cannot read rule file: {exc.strerror or exc}")]) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise RuleFileError([Problem(name, line, column, "rule file is not valid UTF-8")]) from None


def load_rule_file(
    path: str | os.PathLike[str], env: Mapping[str, str] | None = None, reader: RuleFileReader | None = None
) -> RuleSet:
    """Load and check the rule file at ``path``; raises ``RuleFileError`` with every problem.

    ``env`` (default: the process environment) fills ``${VAR}``; with a ``reader`` that loaded
    this file before, only the rule items whose text changed are read again.
    """
    text = read_rule_text(path)
    environ = os.environ if env is None else env
    if reader is not None:
        return reader.load_text(text, str(path), environ)
    return load_rule_text(text, str(path), environ)
