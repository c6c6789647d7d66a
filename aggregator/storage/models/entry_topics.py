from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from aggregator.storage.base import Base, UTCDateTime


class EntryTopicRow(Base):
    __tablename__ = "entry_topics"
    __table_args__ = (
        UniqueConstraint("entry_id", "topic_id", name="uq_entry_topics_entry_id_topic_id"),
        # Serves topic pages and topic feeds: pinned first, then newest, without a sort.
        Index("ix_entry_topics_topic_page", "topic_id", "pin_rank", "sort_at", "entry_id"),
        Index("ix_entry_topics_topic_id_state", "topic_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id", ondelete="CASCADE"))
    topic_id: Mapped[int] = mapped_column(ForeignKey("topics.id", ondelete="CASCADE"))
    score: Mapped[float] = mapped_column(Float, default=0.0)
    explanation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    origin: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    topic_version: Mapped[int] = mapped_column(Integer, default=0)
    decided_by: Mapped[str | None] = mapped_column(String(255))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    matched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fired_parts: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Denormalised from the entry so a topic page is one index range scan.
    pin_rank: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    sort_at: Mapped[datetime] = mapped_column(UTCDateTime)
