"""The ``aggregator`` command line: the one composition root that wires every layer.

Each command group lives in its own module under ``aggregator.cli`` and exposes
``commands: list[click.Command]``; ``COMMAND_MODULES`` lists them.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from aggregator import __version__
from aggregator.errors import AggregatorError

if TYPE_CHECKING:
    from aggregator.config import Settings

# Command name -> module defining it. Modules are imported only when their command runs,
# so `aggregator --help` and light commands start fast.
LAZY_COMMANDS: dict[str, str] = {
    "config": "aggregator.cli.config",
    "db": "aggregator.cli.db",
    "parse": "aggregator.cli.parse",
    "extract": "aggregator.cli.extract",
    "feeds": "aggregator.cli.feeds",
    "opml": "aggregator.cli.feeds",
    "fetch": "aggregator.cli.feeds",
    "status": "aggregator.cli.feeds",
    "run": "aggregator.cli.serve",
    "serve": "aggregator.cli.serve",
    "worker": "aggregator.cli.serve",
    "demo": "aggregator.cli.serve",
    "topics": "aggregator.cli.topics",
    "tag": "aggregator.cli.tag",
    "users": "aggregator.cli.users",
}
# Modules registered eagerly (each exposes ``commands: list[click.Command]``).
COMMAND_MODULES: tuple[str, ...] = ()


@dataclass
class CliContext:
    """Carried in ``click.Context.obj``; settings load lazily so pure commands need no config."""

    config_path: Path | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from aggregator.config import load_settings

            self._settings = load_settings(self.config_path, overrides=self.overrides)
        return self._settings


class AggregatorGroup(click.Group):
    """Loads commands lazily; turns expected failures into one-line errors (exit 1)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(LAZY_COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in LAZY_COMMANDS:
            module = importlib.import_module(LAZY_COMMANDS[cmd_name])
            for candidate in module.commands:
                if candidate.name == cmd_name:
                    return candidate
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AggregatorError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=AggregatorGroup)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="AGGREGATOR_CONFIG",
    help="TOML settings file (settings from the environment win over it).",
)
@click.version_option(__version__, prog_name="aggregator")
@click.pass_context
def main(ctx: click.Context, config_path: Path | None) -> None:
    """aggregator: poll feeds, extract articles, tag topics, publish topic feeds."""
    ctx.obj = CliContext(config_path=config_path)


def _register() -> None:
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        for command in module.commands:
            main.add_command(command)


_register()
