"""`aggregator parse FILE_OR_URL [--json]`: what the project makes of one feed document."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from aggregator.errors import AggregatorError, FetchError, ParseError
from aggregator.parse import DEFAULT_MAX_ENTRIES, parse_feed
from aggregator.types import EntryData, FeedData, FetchOutcome


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def entry_to_json(entry: EntryData) -> dict[str, Any]:
    return {
        "identity": entry.identity,
        "guid": entry.guid,
        "url": entry.url,
        "title": entry.title,
        "author": entry.author,
        "published": _iso(entry.published_at),
        "updated": _iso(entry.updated_at),
        "summary_html": entry.summary_html,
        "content_html": entry.content_html,
        "content_hash": entry.content_hash,
        "categories": list(entry.categories),
        "image_url": entry.image_url,
    }


def feed_data_to_json(url: str, feed: FeedData) -> dict[str, Any]:
    """The JSON shape printed by ``aggregator parse --json`` (dates in ISO 8601)."""
    return {
        "url": url,
        "title": feed.title,
        "site_url": feed.site_url,
        "description": feed.description,
        "format": feed.format,
        "language": feed.language,
        "ttl_s": feed.ttl_s,
        "update_period_s": feed.update_period_s,
        "warnings": list(feed.warnings),
        "entry_count": len(feed.entries),
        "entries": [entry_to_json(entry) for entry in feed.entries],
    }


def _is_url(target: str) -> bool:
    return target.startswith(("http://", "https://"))


def _read_target(ctx: click.Context, target: str) -> tuple[bytes, str, str | None]:
    """(body, URL used as base, Content-Type) for a file path or an http(s) URL."""
    if not _is_url(target):
        path = Path(target)
        try:
            body = path.read_bytes()
        except OSError as exc:
            raise AggregatorError(f"cannot read {target}: {exc.strerror or exc}") from exc
        return body, path.resolve().as_uri(), None

    from aggregator.fetch import fetch_document_once

    allowed = ""
    if ctx.obj is not None:
        allowed = ctx.obj.settings.allowed_networks
    result = asyncio.run(fetch_document_once(target, allowed_networks=allowed))
    if result.outcome is not FetchOutcome.OK or result.body is None:
        raise FetchError(target, result.error or f"fetch ended with {result.outcome.value}")
    return result.body, result.final_url, result.content_type


@click.command("parse")
@click.argument("target", metavar="FILE_OR_URL")
@click.option("--json", "as_json", is_flag=True, help="Print the parsed feed as JSON.")
@click.option(
    "--max-entries",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_ENTRIES,
    show_default=True,
    help="Keep at most this many entries (document order).",
)
@click.option(
    "--url",
    "base_url",
    help="URL the document came from (base for relative links; default: the file or URL).",
)
@click.pass_context
def parse_command(
    ctx: click.Context, target: str, as_json: bool, max_entries: int, base_url: str | None
) -> None:
    """Parse one feed document (file or URL) and print what the aggregator makes of it."""
    body, url, content_type = _read_target(ctx, target)
    url = base_url or url
    try:
        feed = parse_feed(
            body, url, content_type=content_type, now=datetime.now(UTC), max_entries=max_entries
        )
    except ParseError as exc:
        # The base URL of a local file is an internal detail; name the argument instead.
        raise AggregatorError(f"{target}: {exc.message}") from exc
    if as_json:
        click.echo(json.dumps(feed_data_to_json(url, feed), indent=2, ensure_ascii=False))
        return
    click.echo(f"{feed.title or '(untitled)'}  [{feed.format}]")
    if feed.site_url:
        click.echo(f"site: {feed.site_url}")
    for warning in feed.warnings:
        click.echo(f"warning: {warning}")
    click.echo(f"{len(feed.entries)} entries")
    for entry in feed.entries[:20]:
        when = entry.published_at.strftime("%Y-%m-%d %H:%M") if entry.published_at else "no date"
        click.echo(f"  {when}  {entry.title or entry.url or entry.identity}")
    if len(feed.entries) > 20:
        click.echo(f"  ... and {len(feed.entries) - 20} more (use --json for all)")


commands: list[click.Command] = [parse_command]
