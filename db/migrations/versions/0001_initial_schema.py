"""Initial schema: every table, and full-text search (FTS5 on SQLite, GIN on PostgreSQL)

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feeds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("site_url", sa.String(length=2048), nullable=True),
        sa.Column("category", sa.String(length=512), nullable=True),
        sa.Column("content_mode", sa.String(length=16), server_default="auto", nullable=False),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.Text(), nullable=True),
        sa.Column("body_hash", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="new", nullable=False),
        sa.Column("disabled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("error_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_fetched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_poll_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("poll_interval_s", sa.Integer(), nullable=True),
        sa.Column("redirect_url", sa.String(length=2048), nullable=True),
        sa.Column("lease_owner", sa.String(length=255), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feeds")),
        sa.UniqueConstraint("url", name=op.f("uq_feeds_url")),
    )
    op.create_index(op.f("ix_feeds_next_poll_at"), "feeds", ["next_poll_at"], unique=False)

    op.create_table(
        "scheduler_state",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_scheduler_state")),
    )
    op.create_table(
        "topics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=128), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("definition", sa.Text(), server_default="", nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_topics")),
        sa.UniqueConstraint("slug", name=op.f("uq_topics_slug")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failed_logins", sa.Integer(), server_default="0", nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("name", name=op.f("uq_users_name")),
    )
    op.create_table(
        "entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feed_id", sa.Integer(), nullable=False),
        sa.Column("identity", sa.String(length=2048), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("author", sa.Text(), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("summary_html", sa.Text(), nullable=True),
        sa.Column("content_html", sa.Text(), nullable=True),
        sa.Column("content_hash", sa.String(length=128), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("image_url", sa.String(length=2048), nullable=True),
        sa.Column("update_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["feed_id"], ["feeds.id"], name=op.f("fk_entries_feed_id_feeds"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entries")),
        sa.UniqueConstraint("feed_id", "identity", name="uq_entries_feed_id_identity"),
    )
    op.create_index(
        "ix_entries_feed_id_published_at", "entries", ["feed_id", "published_at"], unique=False
    )
    op.create_index("ix_entries_published_at", "entries", ["published_at"], unique=False)

    op.create_table(
        "fetch_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feed_id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("bytes_read", sa.Integer(), nullable=False),
        sa.Column("new_entries", sa.Integer(), nullable=False),
        sa.Column("updated_entries", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("error_kind", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["feed_id"], ["feeds.id"], name=op.f("fk_fetch_log_feed_id_feeds"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fetch_log")),
    )
    op.create_index(
        "ix_fetch_log_feed_id_started_at", "fetch_log", ["feed_id", "started_at"], unique=False
    )
    op.create_index("ix_fetch_log_started_at", "fetch_log", ["started_at"], unique=False)

    op.create_table(
        "articles",
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("author", sa.Text(), nullable=True),
        sa.Column("published", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lead_image", sa.String(length=2048), nullable=True),
        sa.Column("language", sa.String(length=32), nullable=True),
        sa.Column("word_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("extractor", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("extracted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["entries.id"],
            name=op.f("fk_articles_entry_id_entries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_articles")),
    )
    op.create_index("ix_articles_status", "articles", ["status"], unique=False)

    op.create_table(
        "entry_topics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("explanation", sa.JSON(), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("topic_version", sa.Integer(), nullable=False),
        sa.Column("decided_by", sa.String(length=255), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("matched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fired_parts", sa.JSON(), nullable=False),
        sa.Column("pin_rank", sa.Integer(), server_default="0", nullable=False),
        sa.Column("sort_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["entries.id"],
            name=op.f("fk_entry_topics_entry_id_entries"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["topic_id"],
            ["topics.id"],
            name=op.f("fk_entry_topics_topic_id_topics"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entry_topics")),
        sa.UniqueConstraint("entry_id", "topic_id", name="uq_entry_topics_entry_id_topic_id"),
    )
    op.create_index(
        "ix_entry_topics_topic_id_state", "entry_topics", ["topic_id", "state"], unique=False
    )
    op.create_index(
        "ix_entry_topics_topic_page",
        "entry_topics",
        ["topic_id", "pin_rank", "sort_at", "entry_id"],
        unique=False,
    )

    if op.get_bind().dialect.name == "sqlite":
        _create_sqlite_search()
    else:
        _create_postgresql_search()


# Search covers entry titles and extracted article text (titles and text live in two tables).
# SQLite: one FTS5 table keyed by entry id, kept in step by triggers on both tables.
SQLITE_SEARCH = [
    """CREATE VIRTUAL TABLE search_fts USING fts5(
        title, body, tokenize = 'unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER entries_search_insert AFTER INSERT ON entries BEGIN
        INSERT INTO search_fts(rowid, title, body) VALUES (new.id, coalesce(new.title, ''), '');
    END""",
    """CREATE TRIGGER entries_search_update AFTER UPDATE OF title ON entries BEGIN
        UPDATE search_fts SET title = coalesce(new.title, '') WHERE rowid = new.id;
    END""",
    """CREATE TRIGGER entries_search_delete AFTER DELETE ON entries BEGIN
        DELETE FROM search_fts WHERE rowid = old.id;
    END""",
    """CREATE TRIGGER articles_search_insert AFTER INSERT ON articles BEGIN
        UPDATE search_fts SET body = coalesce(new.title, '') || ' ' || coalesce(new.text, '')
        WHERE rowid = new.entry_id;
    END""",
    """CREATE TRIGGER articles_search_update AFTER UPDATE OF title, text ON articles BEGIN
        UPDATE search_fts SET body = coalesce(new.title, '') || ' ' || coalesce(new.text, '')
        WHERE rowid = new.entry_id;
    END""",
    """CREATE TRIGGER articles_search_delete AFTER DELETE ON articles BEGIN
        UPDATE search_fts SET body = '' WHERE rowid = old.entry_id;
    END""",
]

# PostgreSQL: expression GIN indexes; the search query uses the same expressions.
POSTGRESQL_SEARCH = [
    """CREATE INDEX ix_entries_search ON entries
        USING gin (to_tsvector('english'::regconfig, coalesce(title, '')))""",
    """CREATE INDEX ix_articles_search ON articles
        USING gin (to_tsvector('english'::regconfig, coalesce(title, '') || ' ' || coalesce(text, '')))""",
]


def _create_sqlite_search() -> None:
    for statement in SQLITE_SEARCH:
        op.execute(statement)


def _create_postgresql_search() -> None:
    for statement in POSTGRESQL_SEARCH:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS search_fts")
    for table in (
        "entry_topics",
        "articles",
        "fetch_log",
        "entries",
        "users",
        "topics",
        "scheduler_state",
        "feeds",
    ):
        op.drop_table(table)
