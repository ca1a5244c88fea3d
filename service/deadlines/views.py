"""How a deadline reads to a mediator: the last day, working days left, and the law behind it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from service.clock import SHANGHAI
from service.context import AppContext
from service.deadlines.rows import DeadlineRow
from service.deadlines.schemas import DeadlinePublic
from workflows.deadlines import DeadlineStatus, provisional_years


def deadline_views(rows: Sequence[DeadlineRow], ctx: AppContext, *, now: datetime) -> list[DeadlinePublic]:
    views = []
    for row in sorted(rows, key=lambda r: r.id):
        due_at = row.due_at
        policy = ctx.policies.by_kind(row.kind)
        running = row.status in (DeadlineStatus.active, DeadlineStatus.breached)
        live = running or row.status == DeadlineStatus.paused
        missing = provisional_years(ctx.calendar, row.started_at, due_at, row.warnings) if live else ()
        extension = policy.extension_authority
        views.append(
            DeadlinePublic(
                id=row.id,
                kind=row.kind,
                name=policy.name,
                status=row.status,
                unit_code=row.unit_code,
                started_at=row.started_at,
                due_at=due_at,
                # The instant is 00:00 after the last day; people read the last day itself.
                due_date=(due_at.astimezone(SHANGHAI) - timedelta(microseconds=1)).date(),
                warn_at=row.warn_at,
                working_days_left=ctx.calendar.working_days_left(now, due_at) if running else None,
                overdue=running and due_at <= now,
                breach_action=policy.breach.value,
                legal_source=policy.source,
                basis=policy.authority.basis.value,
                source=policy.authority.source,
                decided_by=policy.authority.decided_by,
                breach_basis=policy.breach_authority.basis.value,
                breach_decided_by=policy.breach_authority.decided_by,
                extension_basis=extension.basis.value if extension else None,
                provisional=bool(missing),
                provisional_years=list(missing),
                paused_at=row.paused_at,
                breached_at=row.breached_at,
                ended_at=row.ended_at,
                extensions=list(row.extensions),
            )
        )
    return views
