"""What the numbers' API speaks."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class NumberOut(BaseModel):
    """One number taken: ``text`` as printed, e.g. (2026)昆张调卷字第 0001 号."""

    unit_code: str
    kind: str
    kind_name: str
    year: int
    number: int
    text: str
    case_id: int
    taken_at: datetime
    taken_by: str


class RegisterOut(BaseModel):
    """A unit's numbers of a year (Asia/Shanghai), by kind then number; ``last`` per kind is the
    counter, which always equals the count of that kind's numbers (no gaps)."""

    unit_code: str
    unit_name: str
    year: int
    kind: str | None
    last: dict[str, int]
    numbers: list[NumberOut]
