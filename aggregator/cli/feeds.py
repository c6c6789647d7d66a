"""Subscriptions and polling: `feeds add|list|remove|refresh|disable|enable`,
`opml import|export`, `fetch --once`, `status`."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from aggregator import storage
from aggregator.cli.runtime import database, pipeline_for, progress, seed_database, settle_gc
from aggregator.config import Settings
from aggregator.errors import AggregatorError, FeedNotFoundError
from aggregator.opml import OpmlFeed, parse_opml, write_opml
from aggregator.storage import Database
from aggregator.types import ContentMode, Feed, NewFeed
from aggregator.urls import InvalidURL, normalize_url

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def _settings(ctx: click.Context) -> Settings:
    return ctx.obj.settings


async def _feed_by_url(db: Database, url: str) -> Feed:
    feed = await storage.get_feed_by_url(db, url)
    if feed is None:
        raise FeedNotFoundError(url, "not subscribed; `aggregator feeds list` shows the feeds")
    return feed


def _when(value: datetime | None) -> str:
    if value is None:
        return "never"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


# --------------------------------------------------------------------------- feeds


@click.group("feeds")
def feeds_group() -> None:
    """Manage subscriptions."""


@feeds_group.command("add")
@click.argument("url")
@click.option("--category", "-c", help="Category (folder) of the feed.")
@click.option("--title", "-t", help="Title to show instead of the feed's own.")
@click.option(
    "--no-discover",
    is_flag=True,
    help="Subscribe to URL as given, without looking for the feed on the page.",
)
@click.pass_context
def feeds_add(
    ctx: click.Context, url: str, category: str | None, title: str | None, no_discover: bool
) -> None:
    """Subscribe to a feed, or to the feed a site announces (autodiscovery)."""
    settings = _settings(ctx)

    async def main() -> None:
        try:
            target = normalize_url(url)
        except InvalidURL as exc:
            raise AggregatorError(str(exc)) from None
        if not no_discover:
            from aggregator.discover import discover_feeds
            from aggregator.fetch import Fetcher, FetcherConfig

            async with Fetcher(FetcherConfig.from_settings(settings)) as fetcher:
                found = await discover_feeds(fetcher, target)
            if not found:
                raise AggregatorError(
                    f'no feed found at {target} (not a feed, no <link rel="alternate">, '
                    "no feed at the usual paths); use --no-discover to subscribe anyway"
                )
            if len(found) > 1:
                if not sys.stdin.isatty():
                    lines = "\n".join(f"  {f.url}  ({f.title or f.type})" for f in found)
                    raise AggregatorError(
                        f"{target} announces {len(found)} feeds; add one of them:\n{lines}"
                    )
                for number, f in enumerate(found, 1):
                    click.echo(f"{number}. {f.url}  ({f.title or f.type})")
                choice = click.prompt("Which feed?", type=click.IntRange(1, len(found)))
                target = found[choice - 1].url
            else:
                target = found[0].url
        async with database(settings) as db:
            feed = await storage.add_feed(db, NewFeed(url=target, title=title, category=category))
        click.echo(f"subscribed to {feed.url}" + (f" in {category}" if category else ""))

    run(main())


@feeds_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def feeds_list(ctx: click.Context, as_json: bool) -> None:
    """List subscriptions: title, URL, category, status, last fetch, entries."""
    settings = _settings(ctx)

    async def main() -> None:
        async with database(settings) as db:
            feeds = await storage.list_feeds(db)
        if as_json:
            import json

            click.echo(
                json.dumps(
                    [
                        {
                            "title": f.title,
                            "url": f.url,
                            "category": f.category,
                            "status": f.status.value,
                            "last_fetch": f.last_fetched_at.isoformat()
                            if f.last_fetched_at
                            else None,
                            "entries": f.entry_count,
                            "error": f.last_error,
                        }
                        for f in feeds
                    ],
                    indent=2,
                )
            )
            return
        if not feeds:
            click.echo("no feeds; add one with `aggregator feeds add URL`")
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(show_lines=False)
        for column in ("title", "URL", "category", "status", "last fetch", "entries"):
            table.add_column(column, justify="right" if column == "entries" else "left")
        for f in feeds:
            status = f.status.value + (f" ({f.last_error})" if f.last_error else "")
            table.add_row(
                f.title or "",
                f.url,
                f.category or "",
                status,
                _when(f.last_fetched_at),
                str(f.entry_count),
            )
        Console(width=200 if not sys.stdout.isatty() else None).print(table)

    run(main())


@feeds_group.command("remove")
@click.argument("url")
@click.pass_context
def feeds_remove(ctx: click.Context, url: str) -> None:
    """Unsubscribe (the feed's entries are deleted with it)."""
    settings = _settings(ctx)

    async def main() -> None:
        async with database(settings) as db:
            await storage.remove_feed(db, url)
        click.echo(f"removed {url}")

    run(main())


def _feed_toggle(name: str, help_text: str, *, disabled: bool | None) -> click.Command:
    @click.command(name, help=help_text)
    @click.argument("url")
    @click.pass_context
    def command(ctx: click.Context, url: str) -> None:
        settings = _settings(ctx)

        async def main() -> None:
            async with database(settings) as db:
                feed = await _feed_by_url(db, url)
                if disabled is None:
                    await storage.request_refresh(db, feed.id, datetime.now(UTC))
                else:
                    await storage.set_feed_disabled(db, feed.id, disabled)
            click.echo(f"{name}: {feed.url}")

        run(main())

    return command


feeds_group.add_command(_feed_toggle("refresh", "Poll this feed on the next tick.", disabled=None))
feeds_group.add_command(_feed_toggle("disable", "Stop polling this feed.", disabled=True))
feeds_group.add_command(_feed_toggle("enable", "Poll this feed again.", disabled=False))


@feeds_group.command("mode")
@click.argument("url")
@click.argument("mode", type=click.Choice([m.value for m in ContentMode]))
@click.pass_context
def feeds_mode(ctx: click.Context, url: str, mode: str) -> None:
    """Where a feed's full text comes from: auto (the feed's own content when it is the
    whole article, else the page), feed (always the feed's content) or page (always fetch
    and extract the article page)."""
    settings = _settings(ctx)

    async def main() -> None:
        async with database(settings) as db:
            feed = await _feed_by_url(db, url)
            await storage.set_content_mode(db, feed.id, ContentMode(mode))
        click.echo(f"{feed.url}: full text from {mode}")

    run(main())


# --------------------------------------------------------------------------- opml


@click.group("opml")
def opml_group() -> None:
    """Import and export subscriptions as OPML."""


@opml_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def opml_import(ctx: click.Context, file: Path) -> None:
    """Import subscriptions (OPML 1.0 or 2.0). A malformed file imports nothing."""
    settings = _settings(ctx)
    document = parse_opml(file.read_bytes())  # OPMLError -> one-line error, nothing imported
    for reason in document.skipped:
        click.echo(f"skipped: {reason}", err=True)
    for warning in document.warnings:
        click.echo(f"warning: {warning}", err=True)

    async def main() -> None:
        async with database(settings) as db:
            # One transaction, so the bar moves once: the import is all or nothing.
            with progress(len(document.feeds), "importing") as advance:
                added, already = await storage.add_feeds(
                    db, [feed.to_new_feed() for feed in document.feeds]
                )
                advance(len(document.feeds))
        click.echo(
            f"imported {len(added)} feeds from {file}; {len(already)} already subscribed; "
            f"{len(document.skipped)} outlines skipped"
        )

    run(main())


@opml_group.command("export")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def opml_export(ctx: click.Context, file: Path | None) -> None:
    """Export subscriptions as OPML 2.0 (to FILE, or standard output)."""
    settings = _settings(ctx)

    async def main() -> bytes:
        async with database(settings) as db:
            feeds = await storage.list_feeds(db)
        return write_opml(
            [
                OpmlFeed(url=f.url, title=f.title, site_url=f.site_url, category=f.category)
                for f in feeds
            ],
            title="aggregator subscriptions",
            now=datetime.now(UTC),
        )

    data = run(main())
    if file is None:
        sys.stdout.buffer.write(data)
    else:
        file.write_bytes(data)
        click.echo(f"exported to {file}", err=True)


# --------------------------------------------------------------------------- fetch


@click.command("fetch")
@click.option("--once", is_flag=True, required=True, help="One pass, then exit (required).")
@click.option("--all", "all_feeds", is_flag=True, help="Every feed, due or not.")
@click.option("--feed", "feed_urls", multiple=True, help="Only this feed (repeatable).")
@click.option("--skip-articles", is_flag=True, help="Store entries; do not fetch article pages.")
@click.pass_context
def fetch(
    ctx: click.Context, once: bool, all_feeds: bool, feed_urls: tuple[str, ...], skip_articles: bool
) -> None:
    """Poll every due feed once and print a summary line."""
    settings = _settings(ctx)
    from aggregator.logs import configure_logging

    configure_logging("WARNING" if sys.stderr.isatty() else settings.log_level, settings.log_format)

    async def main() -> None:
        async with database(settings) as db:
            await seed_database(settings, db)
            if feed_urls:
                for url in feed_urls:
                    await _feed_by_url(db, url)  # not subscribed -> one line
            async with pipeline_for(settings, db) as pipeline:
                await pipeline.cpu.start()  # workers ready before the first document
                settle_gc()
                progress = _Progress(enabled=sys.stderr.isatty())
                with progress:
                    summary = await pipeline.run_once(
                        all_feeds=all_feeds,
                        feed_urls=feed_urls,
                        skip_articles=skip_articles,
                        on_claimed=progress.add,
                        on_feed_done=progress.advance,
                    )
        click.echo(
            f"polled {summary.feeds} feeds: {summary.not_modified} not modified, "
            f"{summary.new_entries} new entries, {summary.updated_entries} updated, "
            f"{summary.errors} errors in {summary.seconds:.2f} s"
        )
        for message in summary.error_messages[:20]:
            click.echo(f"  error: {message}", err=True)

    run(main())


class _Progress:
    """A rich progress bar on a terminal; nothing otherwise (log lines say enough)."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.progress import Progress

            self._bar = Progress(transient=True)
            self._bar.__enter__()
            self._task = self._bar.add_task("polling", total=0)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)

    def add(self, count: int) -> None:
        if self._bar is not None:
            total = self._bar.tasks[0].total or 0
            self._bar.update(self._task, total=total + count)

    def advance(self, result: object) -> None:
        if self._bar is not None:
            self._bar.advance(self._task)


# --------------------------------------------------------------------------- status


@click.command("status")
@click.pass_context
def status(ctx: click.Context) -> None:
    """Feeds by status, backlog, last tick, entries today, top errors."""
    settings = _settings(ctx)

    async def main() -> None:
        async with database(settings) as db:
            summary = await storage.status_summary(db, datetime.now(UTC))
        click.echo(
            "feeds by status: "
            + (
                ", ".join(
                    f"{name} {count}" for name, count in sorted(summary.feeds_by_status.items())
                )
                or "no feeds"
            )
        )
        click.echo(
            f"due now: {summary.due_backlog}"
            + (
                f" (oldest waiting {summary.oldest_due_age_s:.0f} s)"
                if summary.oldest_due_age_s
                else ""
            )
        )
        click.echo(f"last scheduler tick: {_when(summary.last_tick)}")
        click.echo(f"entries today: {summary.entries_today}")
        if summary.top_errors:
            click.echo("top errors:")
            for message, count in summary.top_errors:
                click.echo(f"  {count:>4}  {message}")

    run(main())


commands: list[click.Command] = [feeds_group, opml_group, fetch, status]
