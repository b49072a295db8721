"""``newsalert rules check FILE...``: validate watch-rule files without running anything.

Each file is loaded exactly as the matcher loads it (``newsalert.domain.rulefile``). A valid file
gives one ``FILE: OK ...`` line; an invalid one gives every problem as ``FILE:LINE:COL: message``
followed by its caret excerpt (indented), then a count. Everything goes to stdout so it can be piped
to a pager or grep. Exit status: 0 when every file is valid, 1 otherwise (a missing or unreadable
file, or invalid YAML, is an invalid file with a located error too).

``${VAR}`` references are resolved from the environment, as the services would: a variable that is
not set where the check runs is reported. Secrets are never printed.
"""

from __future__ import annotations

import click

from newsalert.cli.file_check import check_files
from newsalert.domain.rulefile import RuleSet
from newsalert.adapters.rule_files import load_rule_file


@click.group()
def rules() -> None:
    """Work with watch-rule files."""


@rules.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=True, path_type=str))
def check(files: tuple[str, ...]) -> None:
    """Check rule FILES: exit 0 if all are valid, else print every problem and exit 1."""
    check_files(files, load_rule_file, _ok_line)


def _ok_line(path: str, rule_set: RuleSet) -> str:
    """The one-line summary of a valid file."""
    rules_n, subs_n = len(rule_set.rules), len(rule_set.subscribers)
    return (
        f"{path}: OK, {rules_n} rule{'s' if rules_n != 1 else ''}, "
        f"{subs_n} subscriber{'s' if subs_n != 1 else ''} (version {rule_set.version})"
    )
