"""`aggregator extract FILE_OR_URL [--url URL] --json`: what the extractor makes of one page;
`aggregator extract --refresh [--feed URL]`: re-extract stored entries."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import click

from aggregator.errors import AggregatorError, ExtractionError, FeedNotFoundError, FetchError
from aggregator.types import ExtractedArticle, FetchOutcome

if TYPE_CHECKING:
    from aggregator.config import Settings

# Fewer words than this after extraction: the page is not an article (a home page, a list).
MIN_ARTICLE_WORDS = 40


def _is_url(value: str) -> bool:
    return urlsplit(value).scheme in ("http", "https")


def _fetch(url: str, allowed_networks: str) -> tuple[bytes, str, str | None]:
    """Fetch one page through the project's fetcher (same limits and address guard)."""
    from aggregator.fetch import fetch_page_once  # imported lazily: only the URL form needs it

    result = asyncio.run(fetch_page_once(url, allowed_networks=allowed_networks))
    if result.outcome is not FetchOutcome.OK or result.body is None:
        raise FetchError(url, result.error or f"fetch ended with {result.outcome.value}")
    return result.body, result.final_url or url, result.content_type


def _read(
    ctx: click.Context, source: str, base_url: str | None
) -> tuple[bytes, str | None, str | None]:
    if _is_url(source):
        allowed = ctx.obj.settings.allowed_networks if ctx.obj is not None else ""
        body, final_url, content_type = _fetch(source, allowed)
        return body, base_url or final_url, content_type
    path = Path(source)
    try:
        return path.read_bytes(), base_url, None
    except OSError as exc:
        raise ExtractionError(f"cannot read {source}: {exc.strerror or exc}") from exc


def _print_text(article: ExtractedArticle) -> None:
    click.echo(article.title or "(no title)")
    details = [
        f"by {article.author}" if article.author else None,
        article.published.isoformat() if article.published else None,
        article.language,
        f"{article.word_count} words",
        article.extractor,
    ]
    click.echo(" · ".join(item for item in details if item))
    click.echo()
    click.echo(article.text)


async def _refresh(settings: Settings, feed_url: str | None, limit: int) -> Counter[str]:
    """Re-extract (and re-tag) the newest stored entries, of one feed or all; count outcomes."""
    from aggregator import storage
    from aggregator.cli.runtime import database, pipeline_for, progress

    async with database(settings) as db:
        feed = None
        if feed_url is not None:
            feed = await storage.get_feed_by_url(db, feed_url)
            if feed is None:
                raise FeedNotFoundError(feed_url, "not subscribed (see `aggregator feeds list`)")
        entries = await storage.recent_entries(db, limit, feed_id=feed.id if feed else None)
        ids = [entry.id for entry in entries]
        async with pipeline_for(settings, db) as pipeline:
            with progress(len(ids), "re-extracting") as advance:
                for start in range(0, len(ids), 20):
                    chunk = ids[start : start + 20]
                    await pipeline.process_entries(chunk, feed=feed)
                    advance(len(chunk))
        outcomes: Counter[str] = Counter()
        for entry in entries:
            article = await storage.get_article(db, entry.id)
            outcomes[article.status.value if article else "none"] += 1
    return outcomes


def _refresh_command(ctx: click.Context, feed_url: str | None, limit: int) -> None:
    settings: Settings = ctx.obj.settings
    if not settings.fetch_articles:
        raise AggregatorError(
            "article fetching is off (setting fetch_articles); nothing to refresh"
        )
    outcomes = asyncio.run(_refresh(settings, feed_url, limit))
    total = sum(outcomes.values())
    details = ", ".join(f"{count} {status}" for status, count in sorted(outcomes.items()))
    click.echo(f"re-extracted {total} entries" + (f": {details}" if details else ""))


@click.command("extract")
@click.argument("source", metavar="FILE_OR_URL", required=False)
@click.option("--url", "base_url", help="The page's URL: resolves links, picks the site rule.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.option(
    "--rules",
    "rules_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Extra site rules (TOML) over the shipped ones [default: the site_rules_file setting].",
)
@click.option(
    "--min-words",
    default=MIN_ARTICLE_WORDS,
    show_default=True,
    help="Fewer words than this: not an article (exit 1).",
)
@click.option(
    "--refresh",
    is_flag=True,
    help="Re-extract the articles of stored entries (newest first) instead of one page.",
)
@click.option("--feed", "feed_url", help="With --refresh: only this feed's entries.")
@click.option(
    "--limit", default=500, show_default=True, help="With --refresh: at most this many entries."
)
@click.pass_context
def extract_command(
    ctx: click.Context,
    source: str | None,
    base_url: str | None,
    as_json: bool,
    rules_path: Path | None,
    min_words: int,
    refresh: bool,
    feed_url: str | None,
    limit: int,
) -> None:
    """Extract the article of one page (a file or an http(s) URL), or with --refresh
    re-extract stored entries."""
    if refresh:
        if source is not None:
            raise click.UsageError("give FILE_OR_URL or --refresh, not both")
        _refresh_command(ctx, feed_url, limit)
        return
    if source is None:
        raise click.UsageError("missing FILE_OR_URL (or use --refresh)")
    if feed_url is not None:
        raise click.UsageError("--feed goes with --refresh")
    from aggregator.extract import extract
    from aggregator.extract.decode import charset_from_content_type

    data, url, content_type = _read(ctx, source, base_url)
    if rules_path is None and ctx.obj is not None and ctx.obj.settings.site_rules_file:
        rules_path = Path(ctx.obj.settings.site_rules_file)
    try:
        article = extract(
            data,
            url,
            charset=charset_from_content_type(content_type),
            rules_path=rules_path,
        )
    except AggregatorError:
        raise
    except Exception as exc:  # a library failing on odd input is still a one-line error here
        raise ExtractionError(f"{source}: extraction failed: {exc}") from exc
    if article.word_count < min_words:
        raise ExtractionError(
            f"{source}: not an article ({article.word_count} words of article text found)"
        )
    if as_json:
        click.echo(json.dumps(article.to_json(), ensure_ascii=False, indent=2))
    else:
        _print_text(article)


commands: list[click.Command] = [extract_command]
