"""Engine, sessions and migrations. Only workers, the API and the CLI touch SQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from ivr.config import PROJECT_ROOT


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the API read while a worker writes; busy_timeout waits out short locks.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def in_models(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic's `include_object`: compare everything but the trigram search indexes that
    migration 0006 creates on PostgreSQL only (their names end in `_trgm`)."""
    return not (type_ == "index" and reflected and (name or "").endswith("_trgm"))


def make_engine(url: str) -> Engine:
    # hide_parameters: an SQL error in a log never shows the values (numbers, names, words).
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False}, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5, hide_parameters=True)


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed at the end, rolled back on any error."""
        with self._sessions() as session, session.begin():
            yield session

    def reader(self) -> Session:
        return self._sessions()

    def dispose(self) -> None:
        self.engine.dispose()


def insert_ignoring_duplicates(
    session: Session, table: Table, rows: list[dict[str, Any]], key: str
) -> int:
    """Insert rows whose `key` is not stored yet; returns how many were new."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # One statement, its rows as parameters: SQLAlchemy compiles it once and sends the
    # rows in pages of many VALUES. A statement with the rows inside it was compiled
    # afresh for every batch, and cost a worker more than storing them. Only new rows
    # come back, so they are the count.
    statement = insert(table).on_conflict_do_nothing(index_elements=[key]).returning(table.c[key])
    return len(session.execute(statement, rows).all())


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)
