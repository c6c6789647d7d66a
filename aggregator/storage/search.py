"""Full-text search over entry titles and article text.

SQLite: the FTS5 table ``search_fts`` (kept by triggers). PostgreSQL: ``websearch_to_tsquery``
against GIN expression indexes. One interface; any user string is safe to pass.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Select, Subquery, func, literal_column, select, text

from aggregator.sanitize import html_to_text
from aggregator.storage.database import Database
from aggregator.storage.entries import entry_from_row, select_entries
from aggregator.storage.models import articles_table, entries_table
from aggregator.types import SearchHit

SNIPPET_CHARS = 300
# A hit without an extracted article gets its snippet from the start of the summary HTML:
# at most this much of it is parsed, however long the summary is.
SNIPPET_HTML_CHARS = 4096
MAX_QUERY_CHARS = 500
# Deep pages cost the database a scan of everything before them; nobody reads that far.
MAX_OFFSET = 10_000
_WORD = re.compile(r"\w+", re.UNICODE)
_PARTIAL_REFERENCE = re.compile(r"&#?\w*")

# entries.search_vector (PostgreSQL only, kept by triggers: migration 0002) holds the
# entry title and the article's title and text.
_POSTGRESQL_MATCH = text(
    "entries.search_vector @@ websearch_to_tsquery('english'::regconfig, :query)"
)


def fts5_query(query: str) -> str | None:
    """A safe FTS5 MATCH expression: every word quoted (AND of all words); None if no words.

    Quoting makes FTS5 syntax (AND/OR/NEAR, ``"``, ``*``, ``:``, parentheses, column
    filters) plain text, so no user input can produce a syntax error or reach other columns.
    """
    words = _WORD.findall(query[:MAX_QUERY_CHARS])
    if not words:
        return None
    return " ".join(f'"{word}"' for word in words[:32])


def _base_query() -> Select[Any]:
    return select_entries(
        func.substr(articles_table.c.text, 1, SNIPPET_CHARS).label("snippet_text")
    ).outerjoin(articles_table, articles_table.c.entry_id == entries_table.c.id)


async def search_entries(
    db: Database, query: str, *, limit: int = 20, offset: int = 0
) -> list[SearchHit]:
    """Entries whose title or article text match ``query``, newest first."""
    query = query.replace("\x00", " ").strip()[:MAX_QUERY_CHARS]
    limit = max(0, min(limit, 500))
    offset = max(0, min(offset, MAX_OFFSET))
    if not query or limit == 0:
        return []
    if db.dialect == "sqlite":
        match = fts5_query(query)
        if match is None:
            return []
        hits: Subquery | None = (
            select(literal_column("rowid").label("entry_id"))
            .select_from(text("search_fts"))
            .where(literal_column("search_fts").op("MATCH")(match))
            .subquery()
        )
        params: dict[str, Any] = {}
    else:
        hits = None
        params = {"query": query}
    statement = _base_query()
    if hits is None:
        statement = statement.where(_POSTGRESQL_MATCH)
    else:
        statement = statement.join(hits, hits.c.entry_id == entries_table.c.id)
    statement = (
        statement.order_by(entries_table.c.published_at.desc(), entries_table.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    async with db.read() as conn:
        rows = (await conn.execute(statement, params)).all()
    return [
        SearchHit(entry=(entry := entry_from_row(row)), snippet=_snippet(row, entry.summary_html))
        for row in rows
    ]


def _snippet(row: Any, summary_html: str | None) -> str:
    body = row._mapping["snippet_text"] or summary_snippet(summary_html)
    return " ".join(body.split())[:SNIPPET_CHARS]


def summary_snippet(html: str | None) -> str:
    """The start of a summary as plain text, from at most ``SNIPPET_HTML_CHARS`` of its HTML.

    Most summaries are mostly text, so the first quarter is tried first (parsing costs in
    proportion to length: about 2 ms for 4 KB); markup-heavy ones get the whole allowance.
    """
    text = ""
    for max_chars in (SNIPPET_HTML_CHARS // 4, SNIPPET_HTML_CHARS):
        head = html_prefix(html, max_chars)
        text = html_to_text(head)
        if len(text) >= SNIPPET_CHARS or len(head) == len(html or ""):
            break
    return text


def html_prefix(html: str | None, max_chars: int = SNIPPET_HTML_CHARS) -> str:
    """The first ``max_chars`` of an HTML fragment, cut where the cut leaves no half tag.

    An unclosed tag, comment or declaration at the cut is dropped whole, and so is a half
    character reference, so converting the prefix to text never shows markup such as
    ``<a href="…`` (the HTML parser drops what is still open at the end, too).
    """
    if not html or len(html) <= max_chars:
        return html or ""
    head = html[:max_chars]
    # A tag, comment or declaration opened after the last ">" is cut off (``<a href="…``,
    # ``<!-- …``, a lone ``<``). Linear: stored HTML escapes "<" in text, so it starts markup.
    opened = head.find("<", head.rfind(">") + 1)
    if opened != -1:
        head = head[:opened]
    ampersand = head.rfind("&")
    if ampersand != -1 and _PARTIAL_REFERENCE.fullmatch(head, ampersand):
        head = head[:ampersand]
    return head
