"""Feeds remember their last document item by item

A changed feed document is parsed without the items that are byte for byte what the
last poll stored (``aggregator.item_index``); what those were is kept here, one row per
feed, written only when the feed's document changes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feed_item_indexes",
        sa.Column("feed_id", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["feed_id"],
            ["feeds.id"],
            name=op.f("fk_feed_item_indexes_feed_id_feeds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("feed_id", name=op.f("pk_feed_item_indexes")),
    )


def downgrade() -> None:
    op.drop_table("feed_item_indexes")
