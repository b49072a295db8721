"""YAML with positions: plain data from PyYAML's nodes, remembering the node of every key and
value, so that a problem found in the data can name the file line and column that caused it.

Used by the rule file and the feed file loaders. Duplicate keys and merge keys (``<<``) are
errors; scalars resolve as safe YAML does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

# libyaml's composer when PyYAML has it (several times faster), the pure-Python one otherwise.
Composer = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_YAML_DEPTH = 64
_STR_TAG = "tag:yaml.org,2002:str"
# Values a file may expand to per character of its text (+ a margin): ``*alias`` reuse is fine,
# an alias bomb (aliases of aliases, billions of values from a few lines) is refused.
_VALUES_PER_CHAR = 10
_VALUES_MARGIN = 100_000


def value_budget(text: str) -> int:
    """How many values a file of ``text`` may expand to (see ``Located.budget``)."""
    return _VALUES_PER_CHAR * len(text) + _VALUES_MARGIN


@dataclass
class Located:
    """Plain data built from YAML nodes, with the nodes of every value and key by path."""

    values: dict[tuple, yaml.Node] = field(default_factory=dict)
    keys: dict[tuple, yaml.Node] = field(default_factory=dict)
    # One constructor per load: it caches every node it builds, so a shared one would leak.
    scalars: yaml.constructor.SafeConstructor = field(default_factory=yaml.constructor.SafeConstructor)
    budget: int = _VALUES_MARGIN  # values still allowed (``value_budget`` of the text)


class YamlProblem(Exception):
    def __init__(self, node: yaml.Node, message: str) -> None:
        super().__init__(message)
        self.node = node
        self.message = message


def to_data(node: yaml.Node, path: tuple, where: Located, depth: int = 0) -> Any:
    """Plain Python data of ``node``, recording the node of each value and key under its path."""
    if depth > MAX_YAML_DEPTH:
        raise YamlProblem(node, f"nested more than {MAX_YAML_DEPTH} levels deep (a recursive alias?)")
    where.budget -= 1
    if where.budget < 0:
        raise YamlProblem(node, "the file expands to too many values through aliases (*name of &name); write them out")
    where.values[path] = node
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlProblem(key_node, "a key must be a plain word, not a list or mapping")
            if key_node.tag.endswith(":merge"):
                raise YamlProblem(key_node, "merge keys (<<) are not supported in rule files")
            key = _scalar(key_node, where)
            if key in out:
                first = where.keys[path + (key,)].start_mark.line + 1
                raise YamlProblem(key_node, f"duplicate key {key!r} (first at line {first})")
            where.keys[path + (key,)] = key_node
            out[key] = to_data(value_node, path + (key,), where, depth + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [to_data(item, path + (i,), where, depth + 1) for i, item in enumerate(node.value)]
    return _scalar(node, where)


def _scalar(node: yaml.Node, where: Located) -> Any:
    """The Python value of a scalar node (str, int, bool, None, ...), resolved as safe YAML does."""
    if node.tag == _STR_TAG:  # almost every scalar: skip the constructor's bookkeeping
        return node.value
    try:
        return where.scalars.construct_object(node)
    except ValueError as exc:  # e.g. an integer of thousands of digits
        raise YamlProblem(node, f"not a usable value: {exc}") from None


def scalar_position(node: yaml.Node, lines: list[str], offset: int) -> tuple[int, int] | None:
    """File (line, column), 1-based, of character ``offset`` of a string scalar's value, if known.

    Known when the scalar sits on one line and its source text maps one-to-one onto its value
    (plain, single-quoted with ``''`` escapes, double-quoted without backslashes), or for a
    literal block (``|``) whose lines are the value's lines behind a fixed indentation.
    """
    start, end = node.start_mark, node.end_mark
    style = getattr(node, "style", None)
    if style == "|":
        return _literal_block_position(node, lines, offset)
    if start.line != end.line:
        return None
    raw = lines[start.line][start.column : end.column]
    if not style:  # plain (PyYAML says None, libyaml says "")
        return start.line + 1, start.column + offset + 1
    if style == '"' and "\\" not in raw:
        return start.line + 1, start.column + offset + 2
    if style == "'":
        i, value_index = 1, 0  # raw[0] is the opening quote; '' stands for one quote
        while value_index < offset and i < len(raw):
            i += 2 if raw[i : i + 2] == "''" else 1
            value_index += 1
        return start.line + 1, start.column + i + 1
    return None


def _literal_block_position(node: yaml.Node, lines: list[str], offset: int) -> tuple[int, int] | None:
    """Position of ``offset`` in a ``|`` block scalar: the value's lines behind one indentation."""
    value: str = node.value
    line_in_value = value.count("\n", 0, offset)
    column_in_line = offset - (value.rfind("\n", 0, offset) + 1)
    first = node.start_mark.line + 1  # content starts on the line after the indicator
    content = [i for i in range(first, min(node.end_mark.line + 1, len(lines))) if lines[i].strip()]
    if not content:
        return None
    indent = len(lines[content[0]]) - len(lines[content[0]].lstrip(" "))
    file_line = first + line_in_value
    value_line = value.split("\n")[line_in_value]
    if file_line >= len(lines) or lines[file_line][indent : indent + len(value_line)] != value_line:
        return None  # leading blank lines or an explicit indentation indicator: do not guess
    return file_line + 1, indent + column_in_line + 1
