"""`aggregator config show|docs`: the effective settings and their documentation."""

from __future__ import annotations

import json
from pathlib import Path

import click

from aggregator.config import env_name, render_docs


@click.group("config")
def config_group() -> None:
    """Inspect settings."""


@config_group.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_obj
def show(obj: object, as_json: bool) -> None:
    """Print the effective settings (secrets masked)."""
    settings = obj.settings  # type: ignore[attr-defined]
    values = settings.redacted()
    if as_json:
        click.echo(json.dumps(values, indent=2, default=str))
        return
    width = max(len(name) for name in values)
    for name, value in values.items():
        click.echo(f"{name:<{width}}  {value!s:<40}  ({env_name(name)})")


@config_group.command("docs")
@click.argument("output", required=False, type=click.Path(dir_okay=False, path_type=Path))
def docs(output: Path | None) -> None:
    """Write docs/configuration.md (or print it) from the settings registry."""
    text = render_docs()
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


commands: list[click.Command] = [config_group]
