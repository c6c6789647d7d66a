from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from aggregator.storage.base import Base, UTCDateTime


class EntryRow(Base):
    __tablename__ = "entries"
    __table_args__ = (
        # The dedup guarantee: one row per (feed, identity), whatever races happen.
        UniqueConstraint("feed_id", "identity", name="uq_entries_feed_id_identity"),
        Index("ix_entries_published_at", "published_at"),
        Index("ix_entries_feed_id_published_at", "feed_id", "published_at"),
        # A poll finds a feed's stored entries by link too (unstable guids).
        Index("ix_entries_feed_id_url", "feed_id", "url"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"))
    identity: Mapped[str] = mapped_column(String(2048))
    url: Mapped[str | None] = mapped_column(String(2048))
    title: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    summary_html: Mapped[str | None] = mapped_column(Text)
    content_html: Mapped[str | None] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(128))
    categories: Mapped[list[Any]] = mapped_column(JSON, default=list)
    image_url: Mapped[str | None] = mapped_column(String(2048))
    update_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
