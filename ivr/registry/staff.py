"""Staff accounts: adding people, checking passwords, locking out guessers.

No Flask here: the web pages and the `ivr users` command share these functions,
and the caller commits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import and_, case, select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from ivr.core.service_levels import load_service_levels
from ivr.models import Availability, StaffRole, User
from ivr.registry.residents import is_e164, normalise_phone

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 8
HASH_METHOD = "scrypt"  # werkzeug.security: memory-hard, salted

_USERNAME = re.compile(r"[\w.\-]{1,64}")


@cache
def repair_trades() -> tuple[str, ...]:
    """A technician's possible trades: the repair categories the service levels know."""
    return tuple(load_service_levels().repair_categories)


class StaffError(ValueError):
    """A staff account cannot be added as asked; the message says why."""


def normalise_username(raw: str) -> str:
    """Usernames ignore case: `Alice` and `alice` are one account."""
    return raw.strip().casefold()


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=HASH_METHOD)


def password_matches(password_hash: str, password: str) -> bool:
    return check_password_hash(password_hash, password)


@cache
def _decoy_hash() -> str:
    return hash_password("a password nobody has")


def _spend_a_password_check(password: str) -> None:
    # Unknown and locked accounts take as long to refuse as a wrong password, so the
    # answer's timing does not tell a guesser which usernames exist.
    password_matches(_decoy_hash(), password)


def check_new_account(username: str, password: str, phone: str) -> list[str]:
    """Everything wrong with a new account's details (empty when it can be added)."""
    problems = []
    if not _USERNAME.fullmatch(username):
        problems.append(f"username {username!r} must be 1-64 letters, digits, '.', '_' or '-'")
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if not is_e164(phone):
        problems.append(f"phone {phone!r} is not E.164 (+ and country code, e.g. +8613800138000)")
    return problems


def find_user(session: Session, username: str) -> User | None:
    found = select(User).filter_by(username=normalise_username(username))
    return session.scalars(found).one_or_none()


def add_user(
    session: Session,
    username: str,
    *,
    role: StaffRole,
    password: str,
    phone: str,
    now: datetime,
    display_name: str = "",
    trades: Iterable[str] = (),
) -> User:
    """Add a member of staff; raises StaffError for bad details or a taken username."""
    username, phone = normalise_username(username), normalise_phone(phone)
    problems = check_new_account(username, password, phone)
    chosen = sorted({trade.strip().lower() for trade in trades if trade.strip()})
    unknown = [trade for trade in chosen if trade not in repair_trades()]
    if unknown:
        problems.append(f"unknown trade {', '.join(unknown)}: one of {', '.join(repair_trades())}")
    if chosen and role != StaffRole.TECHNICIAN:
        problems.append("only a technician has trades")
    if problems:
        raise StaffError("; ".join(problems))
    if find_user(session, username) is not None:
        raise StaffError(f"user {username!r} already exists")
    user = User(
        username=username,
        display_name=display_name.strip() or username,
        password_hash=hash_password(password),
        role=role,
        phone=phone,
        availability=Availability.AWAY,
        failed_logins=0,
        created_at=now,
        trades=chosen,
    )
    session.add(user)
    session.flush()
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.role, User.username)))


def authenticate(session: Session, username: str, password: str, now: datetime) -> User | None:
    """The user these credentials sign in, or None; counts failures and locks the account
    for LOCKOUT after MAX_FAILED_LOGINS of them in a row."""
    user = find_user(session, username)
    if user is None or user.is_locked(now):
        _spend_a_password_check(password)
        return None
    if not password_matches(user.password_hash, password):
        count_failed_login(session, user.id, now)
        return None
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
    return user


def count_failed_login(session: Session, user_id: int, now: datetime) -> int:
    """Add one failure in the database itself and return the new count, locking the account
    when it reaches MAX_FAILED_LOGINS: guesses racing each other are all counted."""
    # A lock that has run out is forgotten in the same statement: this failure is the first.
    expired = and_(User.locked_until.is_not(None), User.locked_until <= now)
    failures = case((expired, 0), else_=User.failed_logins) + 1
    counted = (
        update(User)
        .where(User.id == user_id)
        .values(
            failed_logins=failures,
            locked_until=case((expired, None), else_=User.locked_until),
        )
        .returning(User.failed_logins)
        .execution_options(synchronize_session=False)
    )
    count = int(session.execute(counted).scalar_one())
    if count >= MAX_FAILED_LOGINS:
        lock = update(User).where(User.id == user_id).values(locked_until=now + LOCKOUT)
        session.execute(lock.execution_options(synchronize_session=False))
    return count


def set_availability(session: Session, user_id: int, availability: Availability) -> None:
    user = session.get(User, user_id)
    if user is None:
        raise StaffError(f"no user with id {user_id}")
    user.availability = availability
