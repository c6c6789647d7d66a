from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from aggregator.storage.base import Base, UTCDateTime


class SchedulerStateRow(Base):
    """Small key/value facts for health checks, e.g. ``tick:<worker>`` -> last tick time."""

    __tablename__ = "scheduler_state"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
