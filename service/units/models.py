"""The unit table: a mirror of the org tree configuration, so SQL can join and report on it."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class UnitRow(SQLModel, table=True):
    __tablename__ = "unit"

    code: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=100)
    name_en: str | None = Field(default=None, max_length=200)
    kind: str = Field(max_length=32)
    tier: str = Field(max_length=16)
    channel: str = Field(max_length=16)
    parent_code: str | None = Field(default=None, max_length=32)
    handling_parent_code: str | None = Field(default=None, max_length=32)
    sector: str | None = Field(default=None, max_length=40)
    active: bool = True
