"""How a deadline is shown in the API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field


class DeadlinePublic(BaseModel):
    id: int
    kind: str
    name: str
    status: str
    unit_code: str
    started_at: datetime
    due_at: datetime
    due_date: date = Field(description="the last day of the period (Asia/Shanghai)")
    warn_at: datetime | None = None
    working_days_left: int | None = Field(
        description="working days from today through the last day (1 on the last day, ≤ 0 once overdue); "
        "null while paused or ended"
    )
    overdue: bool
    breach_action: str
    legal_source: str
    paused_at: datetime | None = None
    breached_at: datetime | None = None
    ended_at: datetime | None = None
    extensions: list[dict[str, Any]] = Field(default_factory=list)
