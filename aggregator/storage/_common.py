"""Small helpers shared by the repository modules (private)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from typing import TypeVar

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite

from aggregator.storage.database import Database
from aggregator.urls import MAX_URL_CHARS

T = TypeVar("T")

# SQLite allows 32766 bound parameters per statement; keep multi-row inserts well below.
INSERT_CHUNK_ROWS = 500


def chunks(items: Sequence[T], size: int = INSERT_CHUNK_ROWS) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def clean_text(value: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL characters, and nobody needs them: drop them."""
    if value is None or "\x00" not in value:
        return value
    return value.replace("\x00", "")


def dialect_insert(db: Database | str, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that supports ON CONFLICT on the database's dialect (a Database or its name)."""
    dialect = db if isinstance(db, str) else db.dialect
    if dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


# Long identities are shortened to stay far below PostgreSQL's b-tree entry limit (~2.7 kB),
# keeping a hash of the whole value so distinct identities stay distinct.
_MAX_IDENTITY_BYTES = 1000
_IDENTITY_PREFIX_CHARS = 200


def fit(value: str | None, max_chars: int) -> str | None:
    """Clean text cut to a column's width (for names and labels, where a cut is harmless)."""
    value = clean_text(value)
    return value if value is None or len(value) <= max_chars else value[:max_chars]


def fit_url(value: str | None) -> str | None:
    """A URL that fits its column, or None: a truncated URL would point somewhere else."""
    value = clean_text(value)
    return value if value is None or len(value) <= MAX_URL_CHARS else None


def fit_identity(identity: str) -> str:
    """The stored form of an entry identity (unchanged unless it is very long)."""
    identity = clean_text(identity) or ""
    if len(identity.encode("utf-8", "surrogatepass")) <= _MAX_IDENTITY_BYTES:
        return identity
    digest = hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{identity[:_IDENTITY_PREFIX_CHARS]}#sha256:{digest}"


def fit_hash(value: str) -> str:
    """A content hash that fits its 128-character column (re-hashed if longer).

    The parser's hashes are hex digests far below the limit; this only keeps a caller's
    unusual value from failing a whole poll.
    """
    if len(value) <= 128:
        return value
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
