"""``newsalert schemas export [DIR] [--check]``: the JSON Schema files of the wire models."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def schemas() -> None:
    """JSON Schema files of every message on the wire."""


@schemas.command("export")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if the files in DIR are stale.")
def export_cmd(directory: Path | None, check: bool) -> None:
    """Write one <Model>.schema.json per wire model into DIRECTORY (default: schemas/json)."""
    from newsalert.schemas.export import DEFAULT_DIR, export, stale_files

    target = directory or DEFAULT_DIR
    if check:
        stale = stale_files(target)
        if stale:
            raise click.ClickException(
                f"stale schema files in {target}: {', '.join(stale)}; run `newsalert schemas export`"
            )
        click.echo(f"{target}: schema files are up to date")
        return
    for path in export(target):
        click.echo(str(path))
