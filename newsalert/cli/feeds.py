"""``newsalert feeds check FILE...``: validate feed files without fetching anything.

As ``newsalert rules check``: ``FILE: OK, N feeds`` for a valid file; for an invalid one every
problem as ``FILE:LINE:COL: message`` with its caret excerpt, then a count. Exit 0 when every file
is valid, 1 otherwise.
"""

from __future__ import annotations

import click

from newsalert.cli.file_check import check_files
from newsalert.domain.feeds.feedfile import load_feed_file


@click.group()
def feeds() -> None:
    """Work with feed files (the feeds `newsalert serve feeds` polls)."""


@feeds.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=str))
def check(files: tuple[str, ...]) -> None:
    """Check feed FILES: exit 0 if all are valid, else print every problem and exit 1."""
    check_files(files, load_feed_file, lambda path, specs: f"{path}: OK, {len(specs)} feed{'s' if len(specs) != 1 else ''}")
