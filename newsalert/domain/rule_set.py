"""Rule sets: compiled rules (parsed query, filters, file line), the checks a set of already
validated rules must pass (unique ids, ``notify`` naming known subscribers, every query parsed),
and the version that names a rule set's content.

Built from a rule file by ``newsalert.domain.rulefile`` (with file positions), or from models
(``build_rule_set``: a ``rules`` topic snapshot, the API).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from newsalert.domain.gcpause import collector_paused
from newsalert.domain.query.ast import Node, Term
from newsalert.domain.query.parser import TermLists, parse_list, parse_query
from newsalert.errors import QuerySyntaxError, RuleFileError
from newsalert.schemas.rules import Rule, Subscriber


@dataclass
class Problem:
    """One problem in a rule file: where it is (1-based line and column), what, and a caret excerpt."""

    file: str
    line: int
    column: int
    message: str
    excerpt: str = ""

    def render(self) -> str:
        """``FILE:LINE:COL: message``, then the excerpt indented by four spaces."""
        head = f"{self.file}:{self.line}:{self.column}: {self.message}"
        if not self.excerpt:
            return head
        return head + "\n" + "\n".join("    " + line for line in self.excerpt.splitlines())


@dataclass(frozen=True)
class CompiledRule:
    """A rule ready for the engine: its parsed query, filters, and the YAML line it was defined on.

    ``languages`` (primary subtags, lower case) and ``sources`` (case-folded) are the rule's
    filters; empty means any. ``accepts`` applies them to an article's metadata.
    """

    id: str
    query: str
    node: Node
    notify: tuple[str, ...]
    description: str | None
    line: int
    languages: frozenset[str] = frozenset()
    sources: frozenset[str] = frozenset()

    def accepts(self, language: str | None, source: str | None) -> bool:
        """Whether an article with this ``language`` and ``source`` passes the rule's filters."""
        if self.languages and (language is None or primary_language(language) not in self.languages):
            return False
        if self.sources and (source is None or source_key(source) not in self.sources):
            return False
        return True


def primary_language(tag: str) -> str:
    """``en`` for ``en``, ``EN-gb`` and ``en_GB``: the primary subtag, lower case."""
    return tag.replace("_", "-").split("-", 1)[0].lower()


def source_key(source: str) -> str:
    """A source name compared case-insensitively, whitespace collapsed."""
    return " ".join(source.split()).casefold()


@dataclass(frozen=True)
class RuleSet:
    """A loaded rule file: rules in file order, subscribers by id, term lists, and a content version."""

    rules: tuple[CompiledRule, ...]
    subscribers: dict[str, Subscriber]
    version: str  # short sha256 of the canonical content: changes whenever a rule, list or subscriber does
    source: str
    lists: dict[str, tuple[str, ...]] = field(default_factory=dict)  # as written, for the rules feed


def compile_rule(rule: Rule, line: int = 0, lists: TermLists | None = None, parsed: dict[Any, Any] | None = None) -> CompiledRule:
    """Parse ``rule``'s query (raises ``QuerySyntaxError``); for rules that come from an API.

    ``lists`` are the parsed named term lists its query may use (``parse_term_lists``);
    ``parsed`` is a memo of query text -> node (and rule fields -> compiled rule) made with the
    same lists, read and filled here (a rule set rebuilt after a change parses only the queries
    it did not have).
    """
    if parsed is None:
        return compiled_rule(rule, parse_query(rule.query, lists), line)
    # The memo also keeps whole compiled rules (line 0: from a feed or the API), so that an
    # unchanged rule is the very same object again: the engine then skips it by identity.
    key = (rule.id, rule.query, rule.notify, rule.description, rule.languages, rule.sources, line)
    known = parsed.get(key)
    if known is not None:
        return known
    node = parsed.get(rule.query)
    if node is None:
        node = parsed[rule.query] = parse_query(rule.query, lists)
    compiled = parsed[key] = compiled_rule(rule, node, line)
    return compiled


def compiled_rule(rule: Rule, node: Node, line: int) -> CompiledRule:
    """``rule`` with its parsed query ``node``, defined at file ``line`` (0: not from a file)."""
    return CompiledRule(
        rule.id, rule.query, node, tuple(rule.notify), rule.description, line,
        frozenset(map(primary_language, rule.languages)), frozenset(map(source_key, rule.sources)),
    )


def parse_term_lists(lists: Mapping[str, Iterable[str]]) -> dict[str, tuple[Term, ...]]:
    """Named term lists parsed for ``parse_query``; ``QuerySyntaxError`` names the first bad item."""
    out = {}
    for name, items in lists.items():
        out[name] = tuple(parse_list(item) for item in items)
    return out


def build_rule_set(
    subscribers: Iterable[Subscriber],
    rules: Iterable[Rule],
    source: str = "<rules feed>",
    lists: Mapping[str, Iterable[str]] | None = None,
    parsed: dict[Any, Any] | None = None,
) -> RuleSet:
    """A rule set from already validated models (a ``rules`` topic snapshot, the API).

    ``parsed``: a memo of queries parsed with the same ``lists`` (see ``compile_rule``).

    The same cross-checks as a file load (unique ids, ``notify`` naming known subscribers, every
    query parsed) and the same ``version`` for the same content, so a snapshot of a file rebuilds
    into the rule set the file loads into. Positions are unknown: problems are at line 1 and
    name the rule. Raises ``RuleFileError`` with every problem.
    """
    with collector_paused():
        return _build_rule_set(subscribers, rules, source, lists, parsed)


def _build_rule_set(
    subscribers: Iterable[Subscriber],
    rules: Iterable[Rule],
    source: str,
    lists: Mapping[str, Iterable[str]] | None,
    parsed: dict[Any, Any] | None,
) -> RuleSet:
    problems: list[Problem] = []
    raw_lists = {name: tuple(items) for name, items in (lists or {}).items()}
    parsed_lists: dict[str, tuple[Term, ...]] = {}
    for name, items in raw_lists.items():
        try:
            parsed_lists[name] = tuple(parse_list(item) for item in items)
        except QuerySyntaxError as exc:
            problems.append(Problem(source, 1, exc.column, f"list {name!r}: {exc.message}"))
    subs: dict[str, Subscriber] = {}
    for sub in subscribers:
        if sub.id in subs:
            problems.append(Problem(source, 1, 1, f"duplicate subscriber id {sub.id!r}"))
        subs[sub.id] = sub
    compiled: list[CompiledRule] = []
    seen: set[str] = set()
    for rule in rules:
        if rule.id in seen:
            problems.append(Problem(source, 1, 1, f"duplicate rule id {rule.id!r}"))
            continue
        seen.add(rule.id)
        unknown = [name for name in rule.notify if name not in subs]
        if unknown:
            problems.append(Problem(source, 1, 1, f"rule {rule.id!r}: notify: unknown subscriber(s) {', '.join(map(repr, unknown))}"))
            continue
        try:
            compiled.append(compile_rule(rule, lists=parsed_lists, parsed=parsed))
        except QuerySyntaxError as exc:
            problems.append(Problem(source, 1, exc.column, f"rule {rule.id!r}: query, column {exc.column} of the query: {exc.message}"))
    if problems:
        raise RuleFileError(problems)
    return RuleSet(tuple(compiled), subs, content_version(subs.values(), compiled, raw_lists), source, raw_lists)


def content_version(subscribers: Iterable[Subscriber], rules: Iterable[CompiledRule], lists: Mapping[str, tuple[str, ...]] | None = None) -> str:
    """Short sha256 of the canonical content (secrets enter only as their own sha256)."""
    canonical = {
        "subscribers": [
            {
                "id": s.id,
                "url": s.url,
                "secret": [hashlib.sha256(v.encode()).hexdigest() for v in s.secret_values()],
                "description": s.description,
            }
            # Like the rules' filters: only when set, so files without it keep their versions.
            | ({"format": s.format} if s.format != "standard" else {})
            for s in subscribers
        ],
        "rules": [
            {"id": r.id, "query": r.query, "notify": list(r.notify), "description": r.description}
            # Filters enter only when set, so files without them keep their earlier versions.
            | ({"languages": sorted(r.languages)} if r.languages else {})
            | ({"sources": sorted(r.sources)} if r.sources else {})
            for r in rules
        ],
    }
    if lists:
        canonical["lists"] = {name: list(items) for name, items in sorted(lists.items())}
    encoded = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode()).hexdigest()[:12]
