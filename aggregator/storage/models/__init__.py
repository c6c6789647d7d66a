"""ORM models, one module per table. Private to ``aggregator.storage``."""

from typing import cast

from sqlalchemy import Table

from aggregator.storage.models.articles import ArticleRow
from aggregator.storage.models.entries import EntryRow
from aggregator.storage.models.entry_topics import EntryTopicRow
from aggregator.storage.models.feed_item_indexes import FeedItemIndexRow
from aggregator.storage.models.feeds import FeedRow
from aggregator.storage.models.fetch_log import FetchLogRow
from aggregator.storage.models.scheduler_state import SchedulerStateRow
from aggregator.storage.models.topics import TopicRow
from aggregator.storage.models.users import UserRow

# Core handles on the tables (typed as Table, which the ORM's __table__ is not).
feeds_table = cast(Table, FeedRow.__table__)
feed_item_indexes_table = cast(Table, FeedItemIndexRow.__table__)
entries_table = cast(Table, EntryRow.__table__)
articles_table = cast(Table, ArticleRow.__table__)
topics_table = cast(Table, TopicRow.__table__)
entry_topics_table = cast(Table, EntryTopicRow.__table__)
fetch_log_table = cast(Table, FetchLogRow.__table__)
users_table = cast(Table, UserRow.__table__)
scheduler_state_table = cast(Table, SchedulerStateRow.__table__)

__all__ = [
    "ArticleRow",
    "EntryRow",
    "EntryTopicRow",
    "FeedItemIndexRow",
    "FeedRow",
    "FetchLogRow",
    "SchedulerStateRow",
    "TopicRow",
    "UserRow",
    "articles_table",
    "entries_table",
    "entry_topics_table",
    "feed_item_indexes_table",
    "feeds_table",
    "fetch_log_table",
    "scheduler_state_table",
    "topics_table",
    "users_table",
]
