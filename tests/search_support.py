"""Builders shared by the search tests (not a test module): many entries that one word
finds, and entries carrying hostile text."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta

from aggregator import storage
from aggregator.storage import Database
from aggregator.types import Article, ArticleStatus, EntryPlan, NewFeed
from tests.storage_helpers import entry_data, ok_log, ok_update
from tests.web_support import NOW

# Text that reaches the page as text: entities in a title or summary decode to these
# characters, which the page must escape, never interpret.
HOSTILE_TEXT = "&lt;script&gt;alert(1)&lt;/script&gt; &quot;&gt;&lt;img src=x onerror=alert(2)&gt;"
HOSTILE_QUERY = 'tanker <script> "><img onerror> lt amp'
_ARTICLE_LINK = re.compile(r'href="/articles/(\d+)"')


async def add_convoy_entries(db: Database, count: int) -> list[int]:
    """``count`` entries whose titles say "Convoy", one an hour apart; ids newest first."""
    feed = await storage.add_feed(db, NewFeed("https://convoy.example.test/feed", title="Convoys"))
    entries = tuple(
        dataclasses.replace(
            entry_data(f"convoy-{i}", title=f"Convoy report {i}"),
            published_at=NOW - timedelta(days=10, hours=i),
            summary_html=f"<p>Escorts joined convoy number {i}; convoys wait near Hormuz.</p>",
        )
        for i in range(count)
    )
    result = await storage.apply_poll(
        db,
        feed_id=feed.id,
        owner="test",
        update=ok_update(NOW),
        plan=EntryPlan(new=entries),
        log=ok_log(feed.id, NOW),
        now=NOW,
    )
    return list(result.new_entry_ids)  # inserted in order, newest first


async def add_hostile_entries(db: Database) -> tuple[int, int]:
    """Two entries whose title, summary and article text carry markup as text: one with an
    extracted article (snippet from its text), one without (snippet from its summary)."""
    feed = await storage.add_feed(db, NewFeed("https://hostile.example.test/feed"))
    title = f"Tanker {HOSTILE_TEXT} lt amp"
    with_article = dataclasses.replace(entry_data("hostile-1", title=title), published_at=NOW)
    summary_only = dataclasses.replace(
        entry_data("hostile-2", title=title),
        published_at=NOW - timedelta(minutes=1),
        summary_html=(
            f"<p>Summary {HOSTILE_TEXT} a &lt; b, lt amp</p><script>alert(3)</script>"
            '<img src="x" onerror="alert(4)">'
        ),
    )
    result = await storage.apply_poll(
        db,
        feed_id=feed.id,
        owner="test",
        update=ok_update(NOW),
        plan=EntryPlan(new=(with_article, summary_only)),
        log=ok_log(feed.id, NOW),
        now=NOW,
    )
    first, second = result.new_entry_ids
    await storage.save_article(
        db,
        Article(
            entry_id=first,
            status=ArticleStatus.OK,
            text='Article <script>alert(5)</script> "><img src=x onerror=alert(6)> lt amp',
            extracted_at=NOW,
        ),
    )
    return first, second


def article_ids(page: str) -> list[int]:
    """The entries a result page links to, in page order."""
    return [int(found) for found in _ARTICLE_LINK.findall(page)]
