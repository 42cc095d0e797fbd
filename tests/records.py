"""Reading what the workers stored, for assertions."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import Flask
from sqlalchemy import select

from ivr.app import services

Row = TypeVar("Row")


def stored(app: Flask, model: type[Row], **equal_to: Any) -> list[Row]:
    """Every row of `model` (optionally where column == value), oldest first."""
    query = select(model).filter_by(**equal_to).order_by(model.id)  # type: ignore[attr-defined]
    with app.app_context(), services().db.reader() as session:
        return list(session.scalars(query))
