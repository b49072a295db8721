"""Reloading a rule file item by item (``RuleFileReader``) gives exactly the full loader's result:
the same rule set (lines, version) for a valid file, the same problems for an invalid one."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsalert.domain.rule_items import RuleFileReader, split_items
from newsalert.domain.rulefile import load_rule_text
from newsalert.errors import RuleFileError
from tests.support import OTHER_SECRET as SECRET

HEAD = f"""\
# rules for the tests
subscribers:
  - id: desk
    url: https://hooks.example.org/desk
    secret: {SECRET}
  - id: other
    url: https://hooks.example.org/other
    secret: {SECRET}
lists:
  nk: ['"North Korea"', DPRK]
rules:
"""
TAIL_OPTIONS = ["", "# the end\n", "\n"]
ITEMS = [
    "  - id: {id}\n    query: '\"North Korea\" AND missile*'\n    notify: [desk]\n",
    "  - id: {id}\n    query: Paris\n",
    "  - id: {id}\n    query: '@nk NEAR/5 test*'\n    notify: [desk, other]\n    description: with a list\n",
    "  # a comment before an item\n  - id: {id}\n    query: |\n      Berlin AND\n      Straße\n",
    "  - id: {id}\n    query: 北朝鮮 AND 북한\n    languages: [ja, ko]\n",
    "  - id: {id}\n    query: 'broken AND'\n",  # a query error
    "  - id: {id}\n    query: Rome\n    notify: [nobody]\n",  # unknown subscriber
    "  - id: {id}\n    query: Oslo\n    colour: red\n",  # unknown key
    "  - id: r0\n    query: Madrid\n",  # perhaps a duplicate id
    "  -\n    id: {id}\n    query: Lisbon\n",  # the mapping on the next line
]


def load(reader: RuleFileReader, text: str):
    try:
        return reader.load_text(text, "rules.yaml", env={})
    except RuleFileError as exc:
        return [p.render() for p in exc.problems]


def full(text: str):
    try:
        return load_rule_text(text, "rules.yaml", env={})
    except RuleFileError as exc:
        return [p.render() for p in exc.problems]


def render(items: list[tuple[int, int]], head: str, tail: str) -> str:
    return head + "".join(ITEMS[kind].format(id=f"r{n}") for kind, n in items) + tail


_item = st.tuples(st.integers(0, len(ITEMS) - 1), st.integers(0, 30))


@settings(max_examples=60, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.lists(_item, max_size=8), st.sampled_from(TAIL_OPTIONS), st.booleans()), min_size=1, max_size=6))
def test_every_reload_equals_a_full_load(versions):
    reader = RuleFileReader()
    for items, tail, other_head in versions:
        head = HEAD.replace("DPRK", "Pyongyang") if other_head else HEAD
        text = render(items, head, tail)
        assert load(reader, text) == full(text), text


def test_one_added_rule_is_loaded_alone():
    reader = RuleFileReader()
    items = [(1, n) for n in range(50)]
    first = render(items, HEAD, "")
    assert load(reader, first) == full(first)
    second = render(items + [(0, 99)], HEAD, "")
    loaded = load(reader, second)
    assert loaded == full(second)
    assert loaded.rules[-1].id == "r99" and loaded.rules[0] is reader._items[ITEMS[1].format(id="r0")][0]


def test_items_at_the_first_column_and_a_section_followed_by_a_key():
    text = HEAD.replace("rules:\n", "") + "rules:\n- id: a\n  query: x\n- id: b\n  query: y\nlists_later: 1\n"
    layout = split_items(text)
    assert layout is not None and [line for _, line in layout.items] == [11, 13]  # 0-based
    reader = RuleFileReader()
    assert load(reader, text) == full(text)  # an unknown top-level key: the same error


@pytest.mark.parametrize("text", [HEAD + "  - id: a\n\tquery: x\n", "rules: []\n", "rules:\nrules:\n"])
def test_unusual_layouts_are_left_to_the_full_loader(text):
    assert split_items(text) is None
    assert load(RuleFileReader(), text) == full(text)
