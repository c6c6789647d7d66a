"""Storage on SQLite and PostgreSQL: models (private) and repository functions.

Every public function takes an open ``Database`` first and returns the domain types of
``aggregator.types``; ORM rows never leave this package.
"""

from aggregator.storage.database import Database, default_sqlite_url, sqlite_path
from aggregator.storage.entries import EntryNotFoundError, get_entry, recent_entries
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
)
from aggregator.storage.polling import apply_poll, entry_states

__all__ = [
    "Database",
    "EntryNotFoundError",
    "add_feed",
    "add_feeds",
    "apply_poll",
    "claim_due_feeds",
    "claim_feeds",
    "default_sqlite_url",
    "entry_states",
    "get_entry",
    "get_feed",
    "get_feed_by_url",
    "list_feeds",
    "recent_entries",
    "release_all_leases",
    "release_lease",
    "remove_feed",
    "request_refresh",
    "set_content_mode",
    "set_feed_disabled",
    "sqlite_path",
    "update_feed_meta",
]
