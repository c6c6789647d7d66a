"""Fixtures shared by the whole suite.

- ``shared_corpus``: the third-party test data in ``../shared/corpus`` (tests skip without it).
- ``postgres_url``: a throwaway PostgreSQL database per test, created on the server named by
  ``AGGREGATOR_TEST_POSTGRES_URL`` (``.ci/run`` sets it); tests skip with that reason without it.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
POSTGRES_ENV = "AGGREGATOR_TEST_POSTGRES_URL"


def corpus_dir() -> Path:
    """Where ../shared/corpus is (override with AGGREGATOR_SHARED_DIR)."""
    shared = os.environ.get("AGGREGATOR_SHARED_DIR")
    base = Path(shared) if shared else REPO_ROOT.parent / "shared"
    return base / "corpus"


@pytest.fixture(scope="session")
def shared_corpus() -> Path:
    path = corpus_dir()
    if not path.is_dir():
        pytest.skip(f"shared corpus not found at {path} (set AGGREGATOR_SHARED_DIR)")
    return path


def _admin_url(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _pg_execute(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_admin_url(url))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_postgres_database(base_url: str) -> tuple[str, str]:
    """Create a uniquely named database next to ``base_url``; return (url, name)."""
    name = f"agg_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_execute(base_url, f'CREATE DATABASE "{name}"'))
    head, _, _ = base_url.rpartition("/")
    return f"{head}/{name}", name


def drop_postgres_database(base_url: str, name: str) -> None:
    asyncio.run(_pg_execute(base_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def postgres_url() -> Iterator[str]:
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV} (set by .ci/run)")
    url, name = create_postgres_database(base)
    try:
        yield url
    finally:
        drop_postgres_database(base, name)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'aggregator.sqlite3'}"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Run a storage test once on a SQLite file and once on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'aggregator.sqlite3'}"
        return
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV} (set by .ci/run)")
    url, name = create_postgres_database(base)
    try:
        yield url
    finally:
        drop_postgres_database(base, name)


# The local fixture site (tests/fixture_site.py), shared by fetch, extract, pipeline and web tests.
from tests.fixture_site import fixture_site  # noqa: E402, F401
