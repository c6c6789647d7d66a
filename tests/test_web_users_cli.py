"""`aggregator users add|passwd|list`: curators created from the command line can sign in."""

from __future__ import annotations

import asyncio

from click.testing import CliRunner

from aggregator import storage
from aggregator.cli import main
from aggregator.storage import Database
from web.passwords import verify_password


def stored_hash(url: str, name: str) -> str | None:
    async def run() -> str | None:
        db = await Database.open(url)
        try:
            user = await storage.get_user(db, name)
            return user.password_hash if user else None
        finally:
            await db.close()

    return asyncio.run(run())


def migrated(runner: CliRunner, env: dict[str, str]) -> None:
    result = runner.invoke(main, ["db", "upgrade"], env=env)
    assert result.exit_code == 0, result.output


def test_users_add_with_password_on_stdin(sqlite_url: str) -> None:
    runner = CliRunner()
    env = {"AGGREGATOR_DATABASE_URL": sqlite_url}
    migrated(runner, env)
    result = runner.invoke(
        main, ["users", "add", "carol", "--password-stdin"], input="s3cret pass phrase\n", env=env
    )
    assert result.exit_code == 0, result.output
    password_hash = stored_hash(sqlite_url, "carol")
    assert password_hash is not None and password_hash.startswith("$argon2id$")
    assert verify_password(password_hash, "s3cret pass phrase")
    again = runner.invoke(
        main, ["users", "add", "carol", "--password-stdin"], input="another password\n", env=env
    )
    assert again.exit_code == 1 and "already exists" in again.output
    listed = runner.invoke(main, ["users", "list"], env=env)
    assert listed.output.strip() == "carol"


def test_users_add_prompts_twice_and_refuses_short_or_mismatched(sqlite_url: str) -> None:
    runner = CliRunner()
    env = {"AGGREGATOR_DATABASE_URL": sqlite_url}
    migrated(runner, env)
    short = runner.invoke(
        main, ["users", "add", "dave", "--password-stdin"], input="short\n", env=env
    )
    assert short.exit_code == 1 and "at least 8" in short.output
    prompted = runner.invoke(
        main,
        ["users", "add", "dave"],
        input="first password\nsecond password\nfirst password\nfirst password\n",
        env=env,
    )
    assert prompted.exit_code == 0, prompted.output
    assert "Repeat the password" in prompted.output
    assert verify_password(stored_hash(sqlite_url, "dave"), "first password")
    changed = runner.invoke(
        main, ["users", "passwd", "dave", "--password-stdin"], input="a new password\n", env=env
    )
    assert changed.exit_code == 0
    assert verify_password(stored_hash(sqlite_url, "dave"), "a new password")
    missing = runner.invoke(
        main, ["users", "passwd", "nobody", "--password-stdin"], input="whatever123\n", env=env
    )
    assert missing.exit_code == 1 and "no curator" in missing.output
