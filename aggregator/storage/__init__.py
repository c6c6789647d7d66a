"""Storage on SQLite and PostgreSQL: models (private) and repository functions.

Every public function takes an open ``Database`` first and returns the domain types of
``aggregator.types``; ORM rows never leave this package.
"""

from aggregator.storage.articles import (
    article_stats_by_feed,
    entries_needing_article,
    get_article,
    save_article,
)
from aggregator.storage.database import Database, default_sqlite_url, is_unavailable, sqlite_path
from aggregator.storage.entries import EntryNotFoundError, get_entry, recent_entries
from aggregator.storage.entry_topics import (
    InvalidCursorError,
    decisions_for_quality,
    entries_for_retag,
    entry_matches,
    replace_rule_matches,
    set_decision,
    topic_counts,
    topic_entries,
)
from aggregator.storage.feeds import (
    add_feed,
    add_feeds,
    get_feed,
    get_feed_by_url,
    list_feeds,
    remove_feed,
    request_refresh,
    set_content_mode,
    set_feed_disabled,
    update_feed_meta,
)
from aggregator.storage.leases import (
    claim_due_feeds,
    claim_feeds,
    release_all_leases,
    release_lease,
    release_leases,
)
from aggregator.storage.ops import (
    backup_sqlite,
    last_tick,
    prune_entries,
    record_tick,
    status_summary,
    trim_fetch_log,
)
from aggregator.storage.polling import EntryPlanner, apply_poll, entry_states, store_poll
from aggregator.storage.search import search_entries
from aggregator.storage.topics import (
    TopicNotFoundError,
    delete_topic,
    get_topic,
    list_topics,
    upsert_topic,
)
from aggregator.storage.users import (
    DuplicateUserError,
    add_user,
    get_user,
    list_users,
    record_login_failure,
    record_login_success,
    set_password_hash,
)

__all__ = [
    "Database",
    "DuplicateUserError",
    "EntryNotFoundError",
    "EntryPlanner",
    "InvalidCursorError",
    "TopicNotFoundError",
    "add_feed",
    "add_feeds",
    "add_user",
    "apply_poll",
    "article_stats_by_feed",
    "backup_sqlite",
    "claim_due_feeds",
    "claim_feeds",
    "decisions_for_quality",
    "default_sqlite_url",
    "delete_topic",
    "entries_for_retag",
    "entries_needing_article",
    "entry_matches",
    "entry_states",
    "get_article",
    "get_entry",
    "get_feed",
    "get_feed_by_url",
    "get_topic",
    "get_user",
    "is_unavailable",
    "last_tick",
    "list_feeds",
    "list_topics",
    "list_users",
    "prune_entries",
    "recent_entries",
    "record_login_failure",
    "record_login_success",
    "record_tick",
    "release_all_leases",
    "release_lease",
    "release_leases",
    "remove_feed",
    "replace_rule_matches",
    "request_refresh",
    "save_article",
    "search_entries",
    "set_content_mode",
    "set_decision",
    "set_feed_disabled",
    "set_password_hash",
    "sqlite_path",
    "status_summary",
    "store_poll",
    "topic_counts",
    "topic_entries",
    "trim_fetch_log",
    "update_feed_meta",
    "upsert_topic",
]
