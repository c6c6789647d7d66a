"""Entries looked up by link within a feed use an index

Each poll of a changed feed also finds its stored entries by link (a feed whose guids
change on every request is recognised that way). Without an index on (feed_id, url)
that lookup read every stored entry of the feed, so its cost grew with the feed's
history.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_entries_feed_id_url", "entries", ["feed_id", "url"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_entries_feed_id_url", table_name="entries")
