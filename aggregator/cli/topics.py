"""`aggregator topics list|show|import|export|retag`."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from aggregator import storage
from aggregator.cli.runtime import database, progress
from aggregator.config import Settings
from aggregator.errors import AggregatorError
from aggregator.retag import retag_all
from aggregator.tagger import Tagger
from aggregator.tagging import TopicDefinition, dump_topics, parse_topics_file


def _settings(ctx: click.Context) -> Settings:
    return ctx.obj.settings


@click.group("topics")
def topics_group() -> None:
    """Topics and their rules."""


@topics_group.command("list")
@click.pass_context
def topics_list(ctx: click.Context) -> None:
    """Topics with their version and number of visible articles."""

    async def main() -> None:
        async with database(_settings(ctx)) as db:
            topics = await storage.list_topics(db)
            counts = await storage.topic_counts(db)
        if not topics:
            click.echo("no topics; import some with `aggregator topics import FILE`")
        for topic in topics:
            click.echo(
                f"{topic.slug:<20} v{topic.version:<4} {counts.get(topic.slug, 0):>6} articles  {topic.name}"
            )

    asyncio.run(main())


@topics_group.command("show")
@click.argument("slug")
@click.pass_context
def topics_show(ctx: click.Context, slug: str) -> None:
    """Print one topic's definition as TOML."""

    async def main() -> None:
        async with database(_settings(ctx)) as db:
            topic = await storage.get_topic(db, slug)
        if topic is None:
            raise AggregatorError(f"no topic {slug!r}; `aggregator topics list` shows them")
        click.echo(
            dump_topics(
                [TopicDefinition(topic.slug, topic.name, topic.description, topic.definition)]
            ),
            nl=False,
        )

    asyncio.run(main())


@topics_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def topics_import(ctx: click.Context, file: Path) -> None:
    """Create or update topics from a topics TOML file (invalid rules import nothing)."""
    definitions = parse_topics_file(file.read_text(encoding="utf-8"))  # RuleError: one line

    async def main() -> None:
        async with database(_settings(ctx)) as db:
            for d in definitions:
                topic = await storage.upsert_topic(db, d.slug, d.name, d.description, d.definition)
                click.echo(f"{topic.slug}: version {topic.version}")
        click.echo("run `aggregator topics retag` to apply changed rules to stored articles")

    asyncio.run(main())


@topics_group.command("export")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def topics_export(ctx: click.Context, file: Path | None) -> None:
    """Write every topic as a topics TOML file (to FILE or standard output)."""

    async def main() -> str:
        async with database(_settings(ctx)) as db:
            topics = await storage.list_topics(db)
        return dump_topics(
            [TopicDefinition(t.slug, t.name, t.description, t.definition) for t in topics]
        )

    text = asyncio.run(main())
    if file is None:
        sys.stdout.write(text)
    else:
        file.write_text(text, encoding="utf-8")


@topics_group.command("retag")
@click.argument("slug", required=False)
@click.pass_context
def topics_retag(ctx: click.Context, slug: str | None) -> None:
    """Re-tag every stored article with the current rules (curator decisions survive).

    With SLUG, check that the topic exists first; every topic's rule matches are refreshed
    in the same pass, which leaves unchanged topics as they were.
    """

    async def main() -> int:
        async with database(_settings(ctx)) as db:
            if slug is not None and await storage.get_topic(db, slug) is None:
                raise AggregatorError(f"no topic {slug!r}; `aggregator topics list` shows them")
            total = (await storage.status_summary(db, datetime.now(UTC))).entries_total
            with progress(total, "re-tagging") as advance:
                return await retag_all(db, Tagger(), on_progress=advance)

    count = asyncio.run(main())
    click.echo(f"re-tagged {count} articles")


commands: list[click.Command] = [topics_group]
