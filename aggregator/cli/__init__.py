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

COMMAND_MODULES: tuple[str, ...] = (
    "aggregator.cli.db",
    "aggregator.cli.config",
    "aggregator.cli.parse",
    "aggregator.cli.extract",
    "aggregator.cli.feeds",
    "aggregator.cli.serve",
    "aggregator.cli.topics",
    "aggregator.cli.users",
    "aggregator.cli.tag",
)


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
    """Turns expected failures into one-line errors (exit 1) instead of tracebacks."""

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
