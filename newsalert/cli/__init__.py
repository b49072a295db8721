"""The ``newsalert`` command: one entry point, one sub-command module per area.

Sub-command modules are imported lazily so that ``newsalert --help`` and the pure commands
(``rules check``, ``match``) never import faust or aiokafka.
"""

from __future__ import annotations

import importlib

import click

# name -> (module, attribute, one-line help). Each module defines one click command or group.
_COMMANDS: dict[str, tuple[str, str, str]] = {
    "kafka": ("newsalert.cli.kafka", "kafka", "Run the local Apache Kafka broker (start, stop, status)."),
    "rules": ("newsalert.cli.rules", "rules", "Work with watch-rule files (check)."),
    "feeds": ("newsalert.cli.feeds", "feeds", "Work with feed files (check)."),
    "match": ("newsalert.cli.match", "match", "Dry run: match articles against a rule file offline."),
    "topics": ("newsalert.cli.topics", "topics", "Create or list the service's Kafka topics."),
    "serve": ("newsalert.cli.serve", "serve", "Run a service: ingest, feeds, matcher, notifier, webhook-sink, api."),
    "replay": ("newsalert.cli.replay", "replay", "Publish articles from files to the articles topic."),
    "demo": ("newsalert.cli.demo", "demo", "Run the whole pipeline on the local broker with the seeds."),
    "schemas": ("newsalert.cli.schemas", "schemas", "Export the JSON Schema files of the wire messages."),
    "deliveries": ("newsalert.cli.deliveries", "deliveries", "Delivery attempts, dead letters: list, replay, enable."),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in _COMMANDS:
            return None
        module, attr, _ = _COMMANDS[name]
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, _COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=_LazyGroup)
@click.version_option(package_name="newsalert")
def main() -> None:
    """newsalert: watch rules over a Kafka news stream, alerts to signed webhooks."""
