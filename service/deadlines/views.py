"""How a deadline reads to a mediator: the last day, working days left, and the law behind it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from service.clock import SHANGHAI
from service.context import AppContext
from service.deadlines.schemas import DeadlinePublic
from workflows.deadlines import DeadlineStatus


def instant(value: Any) -> datetime | None:
    """JSON from PostgreSQL carries an offset; SQLite's json_object gives naive UTC text."""
    if value is None or isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value).replace(" ", "T"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def listed(value: Any) -> list[Any]:
    # SQLite's json_object() nests a JSON column as text.
    return list(json.loads(value) if isinstance(value, str) else value or [])


def deadline_views(rows: Sequence[dict[str, Any]], ctx: AppContext, *, now: datetime) -> list[DeadlinePublic]:
    views = []
    for row in sorted(rows, key=lambda r: r["id"]):
        due_at = instant(row["due_at"])
        assert due_at is not None
        policy = ctx.policies.by_kind(row["kind"])
        running = row["status"] in (DeadlineStatus.active, DeadlineStatus.breached)
        views.append(
            DeadlinePublic(
                id=row["id"],
                kind=row["kind"],
                name=policy.name,
                status=row["status"],
                unit_code=row["unit_code"],
                started_at=instant(row["started_at"]) or now,
                due_at=due_at,
                # The instant is 00:00 after the last day; people read the last day itself.
                due_date=(due_at.astimezone(SHANGHAI) - timedelta(microseconds=1)).date(),
                warn_at=instant(row.get("warn_at")),
                working_days_left=ctx.calendar.working_days_left(now, due_at) if running else None,
                overdue=running and due_at <= now,
                breach_action=policy.breach.value,
                legal_source=policy.source,
                paused_at=instant(row.get("paused_at")),
                breached_at=instant(row.get("breached_at")),
                ended_at=instant(row.get("ended_at")),
                extensions=listed(row.get("extensions")),
            )
        )
    return views
