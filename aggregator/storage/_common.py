"""Small helpers shared by the repository modules (private)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite

from aggregator.storage.database import Database

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


def dialect_insert(db: Database, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that supports ON CONFLICT on the database's dialect."""
    if db.dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
