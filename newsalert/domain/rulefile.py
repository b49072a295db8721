"""Loading a YAML watch-rule file's text into a ``RuleSet``: every query parsed, every problem located.

Format in ``docs/rules.md``, models in ``newsalert.schemas.rules``; reading the file and the
environment is ``newsalert.adapters.rule_files``'s. How problems are located and collected:
``docs/architecture.md`` ("Rule files").
"""

from __future__ import annotations

import difflib
import re
from typing import Any, Mapping

import yaml
from pydantic import BaseModel, ValidationError

from newsalert.domain.gcpause import collector_paused
from newsalert.domain.rule_set import CompiledRule, Problem, RuleSet, compiled_rule, content_version, build_rule_set, compile_rule, parse_term_lists
from newsalert.domain.yaml_positions import Composer as _Composer
from newsalert.domain.yaml_positions import Located as _Located
from newsalert.domain.yaml_positions import YamlProblem as _YamlProblem
from newsalert.domain.yaml_positions import scalar_position as _scalar_position
from newsalert.domain.yaml_positions import to_data as _to_data
from newsalert.domain.yaml_positions import value_budget
from newsalert.domain.query.ast import Node, Term
from newsalert.domain.query.parser import LIST_NAME, parse_list, parse_query
from newsalert.errors import QuerySyntaxError, RuleFileError
from newsalert.schemas.rules import Rule, RuleFile, Subscriber

__all__ = [
    "CompiledRule",
    "Problem",
    "RuleFileError",
    "RuleSet",
    "build_rule_set",
    "compile_rule",
    "load_rule_text",
    "parse_term_lists",
]

_VAR = re.compile(r"\$(\$?)\{([^}]*)\}")
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")
_TOP_KEYS = tuple(RuleFile.model_fields)


def load_rule_text(text: str, filename: str = "<string>", env: Mapping[str, str] | None = None) -> RuleSet:
    """Load and check rule-file ``text``; ``env`` holds the variables for ``${VAR}`` (none by
    default: files on disk are loaded with the process environment by
    ``newsalert.adapters.rule_files.load_rule_file``)."""
    with collector_paused():  # a big file makes millions of objects that live on
        return _Loader(text, filename, {} if env is None else env).load()


# --- secrets never shown --------------------------------------------------------------------------
_REDACTIONS = (
    (re.compile(r"(whsec_)\S+"), r"\1***"),
    (re.compile(r"((?:^|[\s{,])secret\s*:\s*)(?!\$\{)[^\s#,}][^#,}]*"), r"\1***"),
    (re.compile(r"(//)[^/@\s]*@"), r"\1***@"),
)


def redact(line: str) -> str:
    """``line`` with ``secret:`` values, ``whsec_`` strings and URL credentials replaced by ``***``."""
    for pattern, replacement in _REDACTIONS:
        line = pattern.sub(replacement, line)
    return line


# --- the loader -----------------------------------------------------------------------------------
class _Loader:
    """One load of one rule file: collects every problem, then raises or returns the rule set."""

    def __init__(self, text: str, filename: str, env: Mapping[str, str]) -> None:
        self.text = text
        self.filename = filename
        self.env = env
        self.lines = text.splitlines() or [""]
        self.problems: list[Problem] = []
        self.where = _Located(budget=value_budget(text))
        self.lists: dict[str, tuple[Term, ...]] = {}  # parsed named term lists (the valid ones)
        self.raw_lists: dict[str, tuple[str, ...]] = {}

    # --- reporting ----------------------------------------------------------------------------
    def file_excerpt(self, line: int, column: int, secret: bool = False) -> str:
        """The (redacted) file line and a caret under ``column``; nothing for a secret's line."""
        if secret or not 1 <= line <= len(self.lines) or not self.lines[line - 1].strip():
            return ""
        shown = redact(self.lines[line - 1]).replace("\t", " ")
        return f"{shown}\n{' ' * (min(column, len(shown) + 1) - 1)}^"

    def report(self, line: int, column: int, message: str, excerpt: str | None = None, secret: bool = False) -> None:
        if excerpt is None:
            excerpt = self.file_excerpt(line, column, secret)
        self.problems.append(Problem(self.filename, line, column, message, excerpt))

    def report_at(self, node: yaml.Node | None, message: str, secret: bool = False) -> None:
        """Report a problem at the start of ``node`` (line 1 column 1 when there is none)."""
        if node is None:
            self.report(1, 1, message, secret=secret)
        else:
            self.report(node.start_mark.line + 1, node.start_mark.column + 1, message, secret=secret)

    def node_for(self, path: tuple, key: bool = False) -> yaml.Node | None:
        """The node of the value (or key) at ``path``, or of its nearest recorded parent."""
        table = self.where.keys if key else self.where.values
        while path:
            if path in table:
                return table[path]
            path, table = path[:-1], self.where.values
        return self.where.values.get(())

    # --- steps --------------------------------------------------------------------------------
    def load(self) -> RuleSet:
        data = self.parse_yaml()
        if data is not None:
            subscribers, sub_items = self.check_subscribers(data)
            self.check_lists(data)
            rules = self.check_rules(data, subscribers, sub_items)
        if self.problems:
            self.problems.sort(key=lambda p: (p.line, p.column))
            raise RuleFileError(self.problems)
        return self.rule_set(subscribers, rules)

    def check_lists(self, data: dict) -> None:
        """Parse the ``lists:`` mapping into ``self.lists``; report every bad name or item in place."""
        value = data.get("lists")
        if value is None:
            return
        if not isinstance(value, dict):
            self.report_at(self.where.values[("lists",)], "'lists' must be a mapping of name: [item, ...]")
            return
        for name, items in value.items():
            key_node = self.where.keys[("lists", name)]
            if not isinstance(name, str) or not LIST_NAME.match(name):
                self.report_at(key_node, f"list name {name!r} must be letters, digits, _ and - (starting with a letter or _)")
                continue
            if not isinstance(items, list) or not items:
                self.report_at(self.where.values[("lists", name)], f"list {name!r} must be a non-empty list of words or phrases, e.g. [DPRK, '\"North Korea\"']")
                continue
            terms, raw = [], []
            for i, item in enumerate(items):
                node = self.where.values[("lists", name, i)]
                if not isinstance(item, str):
                    self.report_at(node, f"list {name!r}: item {i + 1} must be a string (quote it)")
                    continue
                try:
                    terms.append(parse_list(item))
                    raw.append(item)
                except QuerySyntaxError as exc:
                    position = _scalar_position(node, self.lines, exc.offset) if isinstance(node, yaml.ScalarNode) else None
                    line, column = position or (node.start_mark.line + 1, node.start_mark.column + 1)
                    self.report(line, column, f"list {name!r}: item {i + 1}: {exc.message}")
            if len(terms) == len(items):
                self.lists[name] = tuple(terms)
                self.raw_lists[name] = tuple(raw)

    def parse_yaml(self) -> dict | None:
        """The file as plain data, or None after reporting why it is not a usable rule file."""
        try:
            root = yaml.compose(self.text, Loader=_Composer)
        except yaml.MarkedYAMLError as exc:
            self.report_yaml_error(exc)
            return None
        except yaml.YAMLError as exc:
            self.report(1, 1, f"invalid YAML: {exc}")
            return None
        if root is None:
            self.report(1, 1, "empty rule file: expected a mapping with 'rules:' (and 'subscribers:')")
            return None
        try:
            data = _to_data(root, (), self.where)
        except _YamlProblem as exc:
            self.report_at(exc.node, exc.message)
            return None
        except yaml.MarkedYAMLError as exc:  # a tag with no safe constructor (!!python/...), a bad date
            self.report_yaml_error(exc)
            return None
        if not isinstance(data, dict):
            self.report_at(root, "a rule file is a mapping with 'rules:' (and 'subscribers:'), not a list or a value")
            return None
        for key in data:
            if key not in _TOP_KEYS:
                self.report_at(self.where.keys[(key,)], f"unknown key {key!r} at the top level (allowed: {', '.join(_TOP_KEYS)})")
        if "rules" not in data:
            self.report(1, 1, "the file has no 'rules:' list")
        return data

    def report_yaml_error(self, exc: yaml.MarkedYAMLError) -> None:
        """A YAML syntax error at its problem mark, naming where the construct it is in started."""
        mark = exc.problem_mark or exc.context_mark
        message = f"invalid YAML: {exc.problem or exc.context}"
        if exc.context and exc.problem and exc.context_mark is not None:
            ctx = exc.context_mark
            message += f" ({exc.context} that starts at line {ctx.line + 1}, column {ctx.column + 1})"
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        if line > len(self.lines):  # at the end of the file: point just after its last character
            line, column = len(self.lines), len(self.lines[-1]) + 1
        self.report(line, column, message)

    def section(self, data: dict, name: str) -> list:
        """The list under top-level key ``name`` (null or absent is an empty list)."""
        value = data.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            self.report_at(self.where.values[(name,)], f"'{name}' must be a list of mappings (each item starts with '- ')")
            return []
        return value

    def check_subscribers(self, data: dict) -> tuple[dict[str, Subscriber], dict[str, int]]:
        """Valid subscribers by id; also every subscriber id written (valid or not) with its index."""
        valid: dict[str, Subscriber] = {}
        seen: dict[str, int] = {}
        for i, item in enumerate(self.section(data, "subscribers")):
            path = ("subscribers", i)
            if not self.is_mapping(item, path, "subscriber"):
                continue
            sub_id = item.get("id")
            what = f"subscriber {sub_id!r}" if isinstance(sub_id, str) else f"subscriber #{i + 1}"
            duplicate = isinstance(sub_id, str) and self.duplicate(sub_id, seen, i, path, "subscriber")
            before = len(self.problems)
            self.unset: set[tuple] = set()
            model = self.validate(Subscriber, self.substitute(item, path, what), path, what, skip=self.unset)
            if model is not None and not duplicate and len(self.problems) == before:
                valid[model.id] = model
        return valid, seen

    def check_rules(self, data: dict, subscribers: dict[str, Subscriber], sub_ids: dict[str, int]) -> list[CompiledRule]:
        """Compiled rules in file order; problems of the others reported."""
        compiled: list[CompiledRule] = []
        seen: dict[str, int] = {}
        for i, item in enumerate(self.section(data, "rules")):
            path = ("rules", i)
            if not self.is_mapping(item, path, "rule"):
                continue
            rule_id = item.get("id")
            what = f"rule {rule_id!r}" if isinstance(rule_id, str) else f"rule #{i + 1}"
            duplicate = isinstance(rule_id, str) and self.duplicate(rule_id, seen, i, path, "rule")
            model = self.validate(Rule, item, path, what)
            node = self.check_query(item.get("query"), path, what)
            notify_ok = self.check_notify(item.get("notify"), path, what, sub_ids)
            if model is None or node is None or duplicate or not notify_ok:
                continue
            line = self.where.values[path].start_mark.line + 1
            compiled.append(compiled_rule(model, node, line))
        return compiled

    def is_mapping(self, item: Any, path: tuple, what: str) -> bool:
        if isinstance(item, dict):
            return True
        self.report_at(self.where.values[path], f"each {what} must be a mapping (id: ..., ...), not {type(item).__name__}")
        return False

    def duplicate(self, item_id: str, seen: dict[str, int], i: int, path: tuple, what: str) -> bool:
        """Record ``item_id``; report and return True when an earlier item has the same id."""
        if item_id not in seen:
            seen[item_id] = i
            return False
        first = self.where.values[path[:1] + (seen[item_id],)].start_mark.line + 1
        self.report_at(self.node_for(path + ("id",)), f"duplicate {what} id {item_id!r} (first defined at line {first})")
        return True

    def substitute(self, item: dict, path: tuple, what: str) -> dict:
        """``item`` with ``${VAR}`` replaced in its strings; the same object when nothing changed."""
        out: dict = {}
        changed = False
        for key, value in item.items():
            new = self.substitute_value(value, path + (key,), what)
            changed |= new is not value
            out[key] = new
        return out if changed else item

    def substitute_value(self, value: Any, path: tuple, what: str) -> Any:
        if isinstance(value, list):
            new = [self.substitute_value(v, path + (i,), what) for i, v in enumerate(value)]
            return new if any(a is not b for a, b in zip(new, value)) else value
        if not isinstance(value, str) or "${" not in value:
            return value

        def replace(m: re.Match) -> str:
            if m.group(1):  # $${...} is a literal ${...}
                return m.group(0)[1:]
            name = m.group(2)
            if not _VAR_NAME.match(name):
                self.report_var(path, m.start(), f"{what}: '${{{name}}}' is not a variable name (write $${{ for a literal ${{)")
                self.unset.add(path)
                return ""
            if name not in self.env:
                self.report_var(path, m.start(), f"{what}: environment variable {name} is not set ({_loc_name(path[2:])})")
                self.unset.add(path)
                return ""
            return self.env[name]

        return _VAR.sub(replace, value)

    def report_var(self, path: tuple, offset: int, message: str) -> None:
        node = self.where.values.get(path)
        position = _scalar_position(node, self.lines, offset) if isinstance(node, yaml.ScalarNode) else None
        if position is None:
            self.report_at(node, message)
        else:
            self.report(*position, message)

    def validate(
        self, model: type[BaseModel], item: dict, path: tuple, what: str, skip: set[tuple] = frozenset()
    ) -> BaseModel | None:
        """The validated model, or None after reporting every validation error at its place.

        Errors at a path in ``skip`` (a value whose ``${VAR}`` was missing, already reported) are
        left out: they would only repeat the cause.
        """
        try:
            return model.model_validate(item)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
        locs = [tuple(e["loc"]) for e in errors]
        for err in errors:
            loc = tuple(err["loc"])
            # "at least 1 item" after every item failed is noise next to the items' own errors.
            if err["type"] == "too_short" and any(other[: len(loc)] == loc and other != loc for other in locs):
                continue
            if any((path + loc)[: len(p)] == p or p[: len(path + loc)] == path + loc for p in skip):
                continue
            message, key = _message(err, what, model)
            secret = bool(loc) and loc[0] == "secret"
            self.report_at(self.node_for(path + loc, key=key), message, secret=secret)
        return None

    def check_query(self, query: Any, path: tuple, what: str) -> Node | None:
        """The parsed query, or None (a query error is reported at the offending character)."""
        if not isinstance(query, str):
            return None  # missing or not a string: the model validation reports it
        try:
            return parse_query(query, self.lists)
        except QuerySyntaxError as exc:
            node = self.where.values[path + ("query",)]
            position = _scalar_position(node, self.lines, exc.offset)
            if position is not None:
                self.report(*position, f"{what}: query, column {exc.column} of the query: {exc.message}")
            else:
                line = node.start_mark.line + 1
                self.report(line, exc.column, f"{what}: query, column {exc.column} of the query: {exc.message}", exc.excerpt())
            return None

    def check_notify(self, notify: Any, path: tuple, what: str, sub_ids: dict[str, int]) -> bool:
        """Whether every ``notify`` entry names a subscriber once; reports the others."""
        if not isinstance(notify, list):
            return True  # absent, or not a list: the model validation reports the latter
        ok = True
        seen: set[str] = set()
        for i, name in enumerate(notify):
            if not isinstance(name, str):
                continue
            node = self.where.values[path + ("notify", i)]
            if name in seen:
                self.report_at(node, f"{what}: notify lists {name!r} twice")
                ok = False
            elif name not in sub_ids:
                known = ", ".join(sorted(sub_ids)) or "none defined"
                self.report_at(node, f"{what}: notify: unknown subscriber {name!r} (known: {known})")
                ok = False
            seen.add(name)
        return ok

    def rule_set(self, subscribers: dict[str, Subscriber], rules: list[CompiledRule]) -> RuleSet:
        return RuleSet(tuple(rules), subscribers, content_version(subscribers.values(), rules, self.raw_lists), self.filename, self.raw_lists)


def _message(err: dict, what: str, model: type[BaseModel]) -> tuple[str, bool]:
    """A message for one pydantic error (never its input value), and whether it is about a key."""
    loc = tuple(err["loc"])
    name = _loc_name(loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = list(model.model_fields)
        close = difflib.get_close_matches(name, allowed, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return f"{what}: unknown key {name!r} ({hint}allowed: {', '.join(allowed)})", True
    if kind == "missing":
        return f"{what}: missing required key {name!r}", False
    if kind in ("string_type", "string_sub_type"):
        return f"{what}: {name} must be a string (quote it)", False
    if kind in ("tuple_type", "list_type"):
        return f"{what}: {name} must be a list, e.g. [a, b]", False
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return f"{what}: {name}: {msg}", False


def _loc_name(loc: tuple) -> str:
    """``('secret', 1)`` -> ``secret[1]``."""
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p)) for i, p in enumerate(loc))
