"""The residents registry (一户一档): units and the people who live in them."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ivr.core.units import unit_label
from ivr.models.base import Base

__all__ = ["Resident", "Unit", "unit_label"]


class Unit(Base):
    """One household's home: building (栋), entrance (单元) and room (室)."""

    __tablename__ = "units"
    __table_args__ = (UniqueConstraint("building", "entrance", "room"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    building: Mapped[str] = mapped_column(String(16))
    entrance: Mapped[str] = mapped_column(String(16), default="")
    room: Mapped[str] = mapped_column(String(16))

    residents: Mapped[list[Resident]] = relationship(back_populates="unit", order_by="Resident.id")

    @property
    def label(self) -> str:
        return unit_label(self.building, self.entrance, self.room)


class Resident(Base):
    __tablename__ = "residents"
    __table_args__ = (UniqueConstraint("unit_id", "phone"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str] = mapped_column(String(20), index=True)
    language: Mapped[str] = mapped_column(String(8), default="zh-CN")

    unit: Mapped[Unit] = relationship(back_populates="residents")
