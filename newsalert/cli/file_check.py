"""The output of ``rules check`` and ``feeds check``: one OK line per valid file, every located
problem of an invalid one (``FILE:LINE:COL: message`` and its caret excerpt) and a count; exit 1
when any file is invalid."""

from __future__ import annotations

from typing import Any, Callable

import click

from newsalert.errors import InputError


def check_files(files: tuple[str, ...], load: Callable[[str], Any], ok_line: Callable[[str, Any], str]) -> None:
    """Load each file with ``load``; print ``ok_line(path, loaded)`` or its problems; exit 1 on any."""
    failed = 0
    for path in files:
        try:
            loaded = load(path)
        except InputError as exc:
            if not hasattr(exc, "problems"):
                raise
            failed += 1
            for problem in exc.problems:
                click.echo(problem.render())
            count = len(exc.problems)
            click.echo(f"{path}: {count} problem{'s' if count != 1 else ''}")
            continue
        click.echo(ok_line(path, loaded))
    if failed:
        raise SystemExit(1)
