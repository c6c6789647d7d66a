"""`aggregator db upgrade|current|backup` through the real click entry point."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from click.testing import CliRunner

from aggregator.cli import main
from aggregator.storage.migrate import head_revision


def _run(url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env={"AGGREGATOR_DATABASE_URL": url})
    return result.exit_code, result.output


def test_db_commands_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'aggregator.sqlite3'}"
    head = head_revision()

    code, out = _run(url, "db", "current")
    assert code == 0 and "empty (no tables)" in out and "run `aggregator db upgrade`" in out

    code, out = _run(url, "db", "upgrade")
    assert code == 0 and f"upgraded from empty to {head}" in out
    code, out = _run(url, "db", "upgrade")
    assert code == 0 and f"already at {head}" in out
    code, out = _run(url, "db", "current")
    assert code == 0 and "up to date" in out

    target = tmp_path / "backups" / "copy.sqlite3"
    code, out = _run(url, "db", "backup", str(target))
    assert code == 0 and "backup written" in out
    copy = sqlite3.connect(target)
    try:
        assert copy.execute("SELECT version_num FROM alembic_version").fetchone() == (head,)
    finally:
        copy.close()


def test_db_backup_on_postgresql_is_a_one_line_error(postgres_url: str, tmp_path: Path) -> None:
    code, out = _run(postgres_url, "db", "backup", str(tmp_path / "x.sqlite3"))
    assert code == 1
    assert out.strip() == (
        "error: `db backup` copies SQLite databases; back up PostgreSQL with pg_dump"
    )
    code, out = _run(postgres_url, "db", "upgrade")
    assert code == 0 and "upgraded from empty" in out
