"""Curator accounts: the ``users`` table (password hashes come from the web layer's KDF)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.exc import IntegrityError

from aggregator.errors import AggregatorError
from aggregator.storage.base import opt_utc, to_utc, utcnow
from aggregator.storage.database import Database
from aggregator.storage.models import users_table
from aggregator.types import User


class DuplicateUserError(AggregatorError):
    def __init__(self, name: str) -> None:
        super().__init__(f"a user named {name!r} already exists")
        self.name = name


def user_from_row(row: Row[*tuple[Any, ...]]) -> User:
    m = row._mapping
    return User(
        id=m["id"],
        name=m["name"],
        password_hash=m["password_hash"],
        created_at=to_utc(m["created_at"]),
        failed_logins=m["failed_logins"],
        locked_until=opt_utc(m["locked_until"]),
    )


async def add_user(
    db: Database, name: str, password_hash: str, *, now: datetime | None = None
) -> User:
    if not name.strip() or len(name) > 255 or "\x00" in name:
        raise AggregatorError("a user name must be 1 to 255 characters, without NUL")
    now = to_utc(now) if now else utcnow()
    try:
        async with db.transaction() as conn:
            result = await conn.execute(
                users_table.insert()
                .values(name=name, password_hash=password_hash, created_at=now, failed_logins=0)
                .returning(users_table)
            )
            return user_from_row(result.one())
    except IntegrityError as exc:
        raise DuplicateUserError(name) from exc


async def get_user(db: Database, name: str) -> User | None:
    async with db.read() as conn:
        row = (await conn.execute(select(users_table).where(users_table.c.name == name))).first()
    return None if row is None else user_from_row(row)


async def list_users(db: Database) -> list[User]:
    async with db.read() as conn:
        rows = (await conn.execute(select(users_table).order_by(users_table.c.name))).all()
    return [user_from_row(row) for row in rows]


async def set_password_hash(db: Database, name: str, password_hash: str) -> bool:
    async with db.transaction() as conn:
        result = await conn.execute(
            update(users_table)
            .where(users_table.c.name == name)
            .values(password_hash=password_hash, failed_logins=0, locked_until=None)
        )
    return result.rowcount > 0


async def record_login_failure(
    db: Database,
    name: str,
    now: datetime,
    *,
    max_failures: int = 5,
    lockout_s: float = 900,
) -> User | None:
    """Count a wrong password; after ``max_failures`` in a row the account locks for a while.

    Returns the updated user (check ``locked_until``), or None for an unknown name.
    """
    now = to_utc(now)
    async with db.transaction() as conn:
        row = (
            await conn.execute(
                update(users_table)
                .where(users_table.c.name == name)
                .values(failed_logins=users_table.c.failed_logins + 1)
                .returning(users_table)
            )
        ).first()
        if row is None:
            return None
        user = user_from_row(row)
        if user.failed_logins >= max_failures:
            row = (
                await conn.execute(
                    update(users_table)
                    .where(users_table.c.id == user.id)
                    .values(failed_logins=0, locked_until=now + timedelta(seconds=lockout_s))
                    .returning(users_table)
                )
            ).one()
            user = user_from_row(row)
    return user


async def record_login_success(db: Database, name: str) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            update(users_table)
            .where(users_table.c.name == name)
            .values(failed_logins=0, locked_until=None)
        )
