"""Reading what the workers stored, for assertions."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import Flask
from sqlalchemy import create_engine, select, text

from ivr.services import services

Row = TypeVar("Row")


def stored(app: Flask, model: type[Row], **equal_to: Any) -> list[Row]:
    """Every row of `model` (optionally where column == value), oldest first."""
    query = select(model).filter_by(**equal_to).order_by(model.id)  # type: ignore[attr-defined]
    with app.app_context(), services().db.reader() as session:
        return list(session.scalars(query))


def empty_postgres(url: str) -> None:
    """Every table of a migrated PostgreSQL database emptied, its migrations kept."""
    engine = create_engine(url)
    with engine.begin() as connection:
        tables = connection.execute(
            text(
                "SELECT tablename FROM pg_tables"
                " WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
            )
        ).scalars()
        names = ", ".join(f'"{name}"' for name in tables)
        if names:
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()
