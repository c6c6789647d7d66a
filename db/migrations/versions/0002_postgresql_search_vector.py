"""PostgreSQL search: one precomputed tsvector per entry (title + article), GIN-indexed

The first schema searched two expression indexes (entry titles, article text) and merged
them, which forced a sort of every hit: slow for common words. One column kept by
triggers lets the planner either use the GIN index (rare words) or walk entries newest
first and stop after a page (common words). SQLite already has one FTS5 table: no change.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Long articles are cut before indexing: a tsvector is limited to 1 MB.
_DOCUMENT = """to_tsvector('english'::regconfig,
    coalesce({entry_title}, '') || ' ' || coalesce({article_title}, '') || ' '
    || left(coalesce({article_text}, ''), 200000))"""

UPGRADE = [
    "DROP INDEX IF EXISTS ix_entries_search",
    "DROP INDEX IF EXISTS ix_articles_search",
    "ALTER TABLE entries ADD COLUMN search_vector tsvector",
    f"""UPDATE entries SET search_vector = {
        _DOCUMENT.format(
            entry_title="entries.title", article_title="a.title", article_text="a.text"
        )
    }
    FROM entries e LEFT JOIN articles a ON a.entry_id = e.id WHERE e.id = entries.id""",
    "CREATE INDEX ix_entries_search_vector ON entries USING gin (search_vector)",
    f"""CREATE FUNCTION entries_search_vector() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        article_title text;
        article_text text;
    BEGIN
        SELECT a.title, a.text INTO article_title, article_text
        FROM articles a WHERE a.entry_id = NEW.id;
        NEW.search_vector := {
        _DOCUMENT.format(
            entry_title="NEW.title", article_title="article_title", article_text="article_text"
        )
    };
        RETURN NEW;
    END $$""",
    """CREATE TRIGGER entries_search_vector BEFORE INSERT OR UPDATE OF title ON entries
    FOR EACH ROW EXECUTE FUNCTION entries_search_vector()""",
    f"""CREATE FUNCTION articles_search_vector() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            UPDATE entries SET search_vector = {
        _DOCUMENT.format(entry_title="entries.title", article_title="NULL", article_text="NULL")
    }
            WHERE id = OLD.entry_id;
        ELSE
            UPDATE entries SET search_vector = {
        _DOCUMENT.format(
            entry_title="entries.title", article_title="NEW.title", article_text="NEW.text"
        )
    }
            WHERE id = NEW.entry_id;
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER articles_search_vector AFTER INSERT OR DELETE OR UPDATE OF title, text
    ON articles FOR EACH ROW EXECUTE FUNCTION articles_search_vector()""",
]

DOWNGRADE = [
    "DROP TRIGGER IF EXISTS articles_search_vector ON articles",
    "DROP FUNCTION IF EXISTS articles_search_vector()",
    "DROP TRIGGER IF EXISTS entries_search_vector ON entries",
    "DROP FUNCTION IF EXISTS entries_search_vector()",
    "DROP INDEX IF EXISTS ix_entries_search_vector",
    "ALTER TABLE entries DROP COLUMN IF EXISTS search_vector",
    """CREATE INDEX ix_entries_search ON entries
        USING gin (to_tsvector('english'::regconfig, coalesce(title, '')))""",
    """CREATE INDEX ix_articles_search ON articles USING gin (to_tsvector('english'::regconfig,
        coalesce(title, '') || ' ' || coalesce(text, '')))""",
]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in DOWNGRADE:
        op.execute(statement)
