"""A clock as the service reads it: one typed row, built once where the statement's row is read.

A case's clocks come back as JSON inside the case's own row (``service.cases.queries.case_select``),
so the same row is built from a JSON object (text timestamps) or from a row of the table itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import RowMapping

from workflows.deadlines import DeadlineStatus, Warning


def instant(value: Any) -> datetime | None:
    """JSON from PostgreSQL carries an offset; SQLite's json_object gives naive UTC text."""
    if value is None or isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value).replace(" ", "T"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def warnings_from_json(data: Sequence[Sequence[str]] | None) -> tuple[Warning, ...]:
    """Pending warnings as stored (``[level, ISO instant]`` pairs, ``service.warnings_json``)."""
    return tuple((level, datetime.fromisoformat(at)) for level, at in data or [])


def listed(value: Any) -> list[Any]:
    # SQLite's json_object() nests a JSON column as text.
    return list(json.loads(value) if isinstance(value, str) else value or [])


@dataclass(frozen=True, slots=True)
class DeadlineRow:
    """One clock of a case, whatever its status."""

    id: int
    kind: str  # the policy's kind
    unit_code: str
    status: DeadlineStatus
    started_at: datetime
    due_at: datetime
    warn_at: datetime | None
    paused_at: datetime | None
    breached_at: datetime | None
    ended_at: datetime | None
    extensions: tuple[dict[str, Any], ...]  # the recorded extensions, as JSON records
    warnings: tuple[Warning, ...]  # the warnings not yet sent


def deadline_row(item: Mapping[str, Any] | RowMapping) -> DeadlineRow:
    """``item``: a clock as ``json_rows`` gives it (``DEADLINE_FIELDS``) or a row of the table."""
    started_at, due_at = instant(item["started_at"]), instant(item["due_at"])
    if started_at is None or due_at is None:
        raise ValueError(f"deadline {item['id']}: a clock always has a start and a due instant")
    return DeadlineRow(
        id=item["id"],
        kind=item["kind"],
        unit_code=item["unit_code"],
        status=DeadlineStatus(item["status"]),
        started_at=started_at,
        due_at=due_at,
        warn_at=instant(item["warn_at"]),
        paused_at=instant(item["paused_at"]),
        breached_at=instant(item["breached_at"]),
        ended_at=instant(item["ended_at"]),
        extensions=tuple(listed(item["extensions"])),
        warnings=warnings_from_json(listed(item["warnings"])),
    )
