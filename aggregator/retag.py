"""Re-tagging stored entries after a topic changes, incrementally and with progress, and
previewing what a rule change would add and remove before it is saved."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from aggregator import storage
from aggregator.sanitize import html_to_text
from aggregator.storage import Database
from aggregator.tagger import Tagger
from aggregator.tagging import TaggableDocument, compile_topic, preview
from aggregator.types import Article, ArticleStatus, Entry


def document_for(entry: Entry, article: Article | None) -> TaggableDocument:
    """What tagging reads of an entry: title, feed summary, and the article text when present
    (else the feed's own content)."""
    body = article.text if article is not None and article.status is ArticleStatus.OK else None
    return TaggableDocument(
        id=entry.id,
        title=entry.title or "",
        summary=html_to_text(entry.summary_html),
        body=body or html_to_text(entry.content_html) or None,
    )


async def retag_all(
    db: Database,
    tagger: Tagger,
    *,
    batch: int = 500,
    on_progress: Callable[[int], None] | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int:
    """Re-tag every stored entry with the current topics (curator decisions survive).

    Works in batches by entry id, so it can run in the background alongside polling.
    Returns how many entries were re-tagged.
    """
    await tagger.refresh(db)
    done = 0
    after = 0
    while True:
        rows = await storage.entries_for_retag(db, after, batch)
        if not rows:
            return done
        for entry, article in rows:
            document = document_for(entry, article)
            matches = tagger.tag_document(document, entry_id=entry.id, now=clock())
            await storage.replace_rule_matches(db, entry.id, matches, now=clock())
        done += len(rows)
        after = rows[-1][0].id
        if on_progress is not None:
            on_progress(len(rows))


@dataclass(frozen=True, slots=True)
class ChangePreview:
    added: list[tuple[Entry, float]]
    removed: list[Entry]
    unchanged: int


async def preview_change(
    db: Database,
    slug: str,
    name: str,
    old_definition: str | None,
    new_definition: str,
    *,
    recent: int = 1000,
) -> ChangePreview:
    """Which of the ``recent`` newest entries a new definition would add to or remove from
    the topic. Raises RuleError when the new definition is invalid."""
    new = compile_topic(slug, name, new_definition)
    old = compile_topic(slug, name, old_definition) if old_definition else None
    rows = await storage.entries_for_retag(db, 0, recent, newest_first=True)
    documents = [document_for(entry, article) for entry, article in rows]
    by_id = {entry.id: entry for entry, _ in rows}
    result = preview(old, new, documents)
    return ChangePreview(
        added=[(by_id[int(key)], match.score) for key, match in result.added if key is not None],
        removed=[by_id[int(key)] for key, _ in result.removed if key is not None],
        unchanged=result.unchanged_count,
    )
