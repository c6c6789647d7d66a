"""Password hashing for curators (Argon2id via argon2-cffi). No web framework imports, so the
CLI (``aggregator users add``) shares it."""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024  # hashing cost grows with length; refuse absurd inputs early

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified when the user does not exist, so a wrong name costs as long as a wrong
    password. Made on first use: hashing at import would slow every command's start-up."""
    return _hasher.hash("not a real password, only here for constant-time refusal")


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValueError(f"the password may have at most {MAX_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; a missing hash still costs one verification."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return (
            _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
        )
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
