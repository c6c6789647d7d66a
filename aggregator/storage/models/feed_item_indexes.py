from __future__ import annotations

from sqlalchemy import ForeignKey, LargeBinary
from sqlalchemy.orm import Mapped, mapped_column

from aggregator.storage.base import Base


class FeedItemIndexRow(Base):
    """What the last parsed document of a feed held, item by item (``aggregator.item_index``).

    Its own table, not a column of ``feeds``: it changes only when a feed's document does,
    while the feed row is rewritten on every poll, and most reads of feeds never need it.
    """

    __tablename__ = "feed_item_indexes"

    feed_id: Mapped[int] = mapped_column(
        ForeignKey("feeds.id", ondelete="CASCADE"), primary_key=True
    )
    data: Mapped[bytes] = mapped_column(LargeBinary)
