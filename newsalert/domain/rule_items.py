"""Loading a changed rule file again at the cost of the rules whose text changed.

A rule file of 100,000 rules is 8 MB of YAML; composing it takes seconds whatever changed. Rule
items are independent, so :class:`RuleFileReader` splits the ``rules:`` section into the text of
each item (a line ``<indent>- `` starts one; lines indented further, blank lines and comments
belong to it) and keeps, per item text, the rule it compiled to. After an edit only the items
whose text is new are loaded, each as a small file made of the rest of the file (subscribers,
term lists) and that item, so every check (model, query, ``notify`` naming a subscriber) is the
full loader's own.

The result is exactly what :func:`~newsalert.domain.rulefile.load_rule_text` returns (the tests
compare them). Whenever this shortcut is not sure to be equal -- the file's text outside the rule
items changed, the section is not laid out as plain items, an item does not load, two rules have
one id -- the whole file is loaded by the full loader, which also reports every problem with its
line and column.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from newsalert.domain.gcpause import collector_paused
from newsalert.domain.rule_set import CompiledRule, RuleSet, content_version
from newsalert.domain.rulefile import load_rule_text
from newsalert.errors import RuleFileError

# The top-level "rules:" key with nothing after it on its line (a block sequence follows).
_RULES_KEY = re.compile(r"^rules:[ \t]*(?:#.*)?$", re.M)
_ITEM_INDENT = re.compile(r"^(?:[ \t]*(?:#.*)?\n)*( *)-(?: |$)", re.M)


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where the rule items are: the text before and after the section, and each item's text with
    the 0-based line it starts on."""

    head: str
    tail: str
    items: list[tuple[str, int]]
    head_lines: int  # lines before the first item

    def rest(self) -> str:
        """The file without its rule items (every check but the rules' own needs only this)."""
        return self.head + self.tail


def split_items(text: str) -> _Layout | None:
    """The rule items of ``text``, or None when its ``rules:`` section is not plain items."""
    keys = _RULES_KEY.findall(text)
    if len(keys) != 1 or "\t" in text:
        return None
    key = _RULES_KEY.search(text)
    assert key is not None
    section = key.end() + 1
    first = _ITEM_INDENT.match(text, section)
    if first is None:
        return None
    indent = first.group(1)
    start = first.start(1)
    # The section ends at the first line that is neither an item, nor indented further, nor blank or a comment.
    end_pattern = re.compile(rf"^(?!{indent} |{indent}-(?: |$)|[ \t]*(?:#.*)?$)", re.M)
    end_match = end_pattern.search(text, start)
    end = end_match.start() if end_match else len(text)
    body = text[start:end]
    starts = [m.start() for m in re.finditer(rf"^{indent}-(?: |$)", body, re.M)]
    line = text.count("\n", 0, start)
    items = []
    for i, offset in enumerate(starts):
        chunk = body[offset : starts[i + 1] if i + 1 < len(starts) else len(body)]
        items.append((chunk, line))
        line += chunk.count("\n")
    tail = text[end:]
    if end == len(text) and not body.endswith("\n"):
        return None  # no final newline: items would not end alike
    return _Layout(text[:start], tail, items, text.count("\n", 0, start))


# Above this many changed items one full load is cheaper than loading them one by one.
MAX_CHANGED_ITEMS = 500


class RuleFileReader:
    """Loads one rule file again and again, re-reading only the rule items that changed."""

    def __init__(self) -> None:
        self._rest: str | None = None  # the file without its items, at the last load
        self._rest_set: RuleSet | None = None  # its subscribers and term lists
        # Item text -> its rule and the 0-based line the item started on when the rule was made.
        self._items: dict[str, tuple[CompiledRule, int]] = {}

    def load_text(self, text: str, filename: str, env: Mapping[str, str] | None = None) -> RuleSet:
        """As ``load_rule_text(text, filename, env)``, at the cost of the items that changed."""
        with collector_paused():  # 100,000 item texts and rules (see ``gcpause``)
            return self._load_text(text, filename, env)

    def _load_text(self, text: str, filename: str, env: Mapping[str, str] | None) -> RuleSet:
        layout = split_items(text)
        if layout is not None and self._rest_set is not None and layout.rest() == self._rest and self._rest_set.source == filename:
            loaded = self._load_items(layout, self._rest_set, env)
            if loaded is not None:
                return loaded
        rule_set = load_rule_text(text, filename, env)  # raises with every problem in place
        self._remember(layout, rule_set)
        return rule_set

    def _remember(self, layout: _Layout | None, rule_set: RuleSet) -> None:
        """Keep each item's rule from a full load (when items and rules pair up one to one)."""
        self._rest, self._rest_set, self._items = None, None, {}
        if layout is None or len(layout.items) != len(rule_set.rules):
            return
        items = {}
        for (chunk, line), rule in zip(layout.items, rule_set.rules):
            if rule.id not in chunk or chunk in items:
                return
            items[chunk] = (rule, line)
        self._rest, self._rest_set, self._items = layout.rest(), replace(rule_set, rules=()), items

    def _load_items(self, layout: _Layout, rest: RuleSet, env: Mapping[str, str] | None) -> RuleSet | None:
        """The rule set from kept and newly loaded items; None if the full loader must decide."""
        known = self._items
        items: dict[str, tuple[CompiledRule, int]] = {}
        rules = []
        changed = 0
        for chunk, line in layout.items:
            found = known.get(chunk)
            if found is None:
                changed += 1
                if changed > MAX_CHANGED_ITEMS or chunk in items:
                    return None
                found = self._load_item(layout, chunk, line, rest.source, env)
                if found is None:
                    return None
            rule, made_at = found
            if made_at != line:  # the item moved: same rule, another line
                rule, made_at = replace(rule, line=rule.line - made_at + line), line
            items[chunk] = (rule, made_at)
            rules.append(rule)
        if len(items) != len(rules):
            return None  # two items with one text: one id twice, which the full loader reports
        self._items = items
        ordered = tuple(rules)
        return replace(rest, rules=ordered, version=content_version(rest.subscribers.values(), ordered, rest.lists))

    @staticmethod
    def _load_item(layout: _Layout, chunk: str, line: int, filename: str, env: Mapping[str, str] | None) -> tuple[CompiledRule, int] | None:
        """One new item, loaded as the file's subscribers and lists plus that item alone."""
        try:
            single = load_rule_text(layout.head + chunk + layout.tail, filename, env)
        except RuleFileError:
            return None
        if len(single.rules) != 1 or single.rules[0].id not in chunk:
            return None
        rule = single.rules[0]
        return replace(rule, line=rule.line - layout.head_lines + line), line
