"""The running rule set as the matcher sees it, and the rule tester's query compilation.

The running set is read from the ``rules`` topic: the newest snapshot with the active
subscriptions merged in (``newsalert.domain.live_rules.merge``, the matcher's own code). A
refused change is found where the matcher found it: the snapshot names the file it came from;
when that file is readable here and no longer validates, its problems are what the matcher
logged when it kept the last good set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from newsalert.config import Settings
from newsalert.domain.live_rules import merge, snapshot_rule_set
from newsalert.domain.rulefile import CompiledRule, RuleSet, compile_rule, parse_term_lists
from newsalert.adapters.rule_files import load_rule_file
from newsalert.errors import QuerySyntaxError, RuleFileError
from newsalert.schemas.rules import Rule
from newsalert.schemas.rules_feed import RuleSetSnapshot, effective_version
from newsalert.services.api.store import FeedView, read_feed

TESTED_RULE_ID = "console-test"


@dataclass
class Running:
    """The running set (None before any snapshot), its effective version, and the rule file's state."""

    snapshot: RuleSetSnapshot | None = None
    rule_set: RuleSet | None = None
    version: str = ""
    subscriptions: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    file_problems: list[str] = field(default_factory=list)
    file_note: str = ""

    def rule(self, rule_id: str) -> CompiledRule | None:
        """The running rule ``rule_id``, or None."""
        if self.rule_set is None:
            return None
        return next((r for r in self.rule_set.rules if r.id == rule_id), None)


async def running(settings: Settings) -> Running:
    """Read the ``rules`` topic and build the running set and the rule file's state."""
    view: FeedView = await read_feed(settings, settings.console_read_timeout, quiet=True)
    out = Running(subscriptions=dict(view.subscriptions))
    if view.snapshot is None:
        return out
    merged = merge(snapshot_rule_set(view.snapshot), view.subscriptions)
    active = [s for s in view.subscriptions.values() if s.status == "active"]
    out.snapshot, out.rule_set, out.warnings = view.snapshot, merged.rule_set, merged.warnings
    out.version = effective_version(view.snapshot.version, active)
    out.file_problems, out.file_note = file_state(view.snapshot)
    return out


def file_state(snapshot: RuleSetSnapshot) -> tuple[list[str], str]:
    """The problems of the snapshot's rule file as ``FILE:LINE:COL: message`` and caret excerpt,
    and a note when there is nothing to show or the file holds an unpublished valid change."""
    if not snapshot.source or snapshot.source.startswith("<"):
        return [], "the running set did not come from a file"
    path = Path(snapshot.source)
    if not path.is_file():
        return [], f"the rule file {snapshot.source} is not readable from the API's machine"
    try:
        loaded = load_rule_file(path)
    except RuleFileError as exc:
        return [problem.render() for problem in exc.problems], ""
    except OSError as exc:
        return [], f"the rule file {snapshot.source} cannot be read: {exc}"
    if loaded.version != snapshot.version:
        return [], f"the rule file {snapshot.source} holds a valid change (version {loaded.version}) not yet published by a matcher"
    return [], ""


def compile_query(query: str, snapshot: RuleSetSnapshot | None) -> CompiledRule:
    """The typed query as a rule, with the running set's term lists (``QuerySyntaxError`` if it
    does not parse)."""
    lists = parse_term_lists(snapshot.lists) if snapshot is not None else None
    return compile_rule(Rule(id=TESTED_RULE_ID, query=query), lists=lists)


def query_error(query: str, snapshot: RuleSetSnapshot | None) -> QuerySyntaxError | None:
    """Why ``query`` does not parse, or None when it does."""
    try:
        compile_query(query, snapshot)
    except QuerySyntaxError as exc:
        return exc
    return None
