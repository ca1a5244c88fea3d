"""Extending a legal period (e.g. +30 days on a court delegation with both parties' consent)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.ext.asyncio import AsyncEngine

from service.cases import queries
from service.cases.schemas import CasePublic
from service.cases.service import case_public, transition_context, visible_row
from service.context import AppContext
from service.deadlines.models import Deadline
from service.deadlines.rows import deadline_row
from service.deadlines.service import warnings_json
from service.errors import Conflict, NotFound, StaleVersion, TransitionNotAllowed
from service.safe_text import NoBidi
from workflows.deadlines import DeadlineStatus, ExtensionNotAllowed, PeriodUnit, extended, warnings_for
from workflows.lifecycle import Actor, court_clerk_of_linked_case, handles_case

deadline = Deadline.__table__  # type: ignore[attr-defined]


class ExtendIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "by_length": 30,
                    "by_unit": "days",
                    "both_parties_consent": True,
                    "consent_record": "双方于2026-03-12签署《延长调解期限同意书》",
                    "reason": "需等待工伤等级鉴定",
                }
            ]
        },
    )

    by_length: int = Field(ge=1, le=366)
    by_unit: PeriodUnit | None = Field(
        default=None, description="default: the unit the policy's maximum is in"
    )
    both_parties_consent: bool = False
    consent_record: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=500), NoBidi] | None
    ) = Field(default=None, description="how the consent was recorded (document, date)")
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), NoBidi]


class ExtensionRefused(Conflict):
    slug = "extension-not-allowed"
    title = "This period cannot be extended that way"


def _already(extensions: Sequence[dict[str, Any]], unit: PeriodUnit) -> tuple[int, PeriodUnit] | None:
    total = sum(int(e["by_length"]) for e in extensions if e.get("by_unit") == unit.value)
    return (total, unit) if extensions else None


async def extend_deadline(
    engine: AsyncEngine,
    ctx: AppContext,
    case_id: int,
    deadline_id: int,
    body: ExtendIn,
    actor: Actor,
    *,
    now: datetime,
    if_match: int | None,
) -> CasePublic:
    row = await visible_row(engine, ctx, case_id, actor)
    if if_match is not None and if_match != row.version:
        raise StaleVersion(
            f"The case is now at version {row.version}; reload it.", current_version=row.version
        )
    context = transition_context(ctx, row, actor, now)
    if not (handles_case(context) or court_clerk_of_linked_case(context)):
        raise TransitionNotAllowed(
            f"{actor.username} may read this case but not extend its periods.", allowed=[]
        )
    async with engine.connect() as conn:
        found = (
            await conn.execute(
                sa.select(deadline).where(deadline.c.id == deadline_id, deadline.c.case_id == case_id)
            )
        ).first()
    if found is None:
        raise NotFound(f"Case {case_id} has no deadline {deadline_id}.")
    clock = deadline_row(found._mapping)
    if clock.status not in (DeadlineStatus.active, DeadlineStatus.paused, DeadlineStatus.breached):
        raise ExtensionRefused(
            f"The {clock.kind} period has ended ({clock.status}); there is nothing to extend."
        )
    policy = ctx.policies.by_kind(clock.kind)
    unit = body.by_unit or (policy.extension.max_unit if policy.extension else PeriodUnit.days)
    extensions = list(clock.extensions)
    try:
        new_due = extended(
            policy,
            clock.started_at,
            clock.due_at,
            _already(extensions, unit),
            body.by_length,
            unit,
            actor.role,
            body.both_parties_consent,
            ctx.calendar,
        )
    except ExtensionNotAllowed as exc:
        raise ExtensionRefused(str(exc)) from exc
    record = {
        "by_length": body.by_length,
        "by_unit": unit.value,
        "at": now.isoformat(),
        "actor": actor.username,
        "both_parties_consent": body.both_parties_consent,
        "consent_record": body.consent_record,
        "reason": body.reason,
        "previous_due_at": clock.due_at.isoformat(),
        "new_due_at": new_due.isoformat(),
    }
    # Levels get a suffix so the extended window warns again (each level is sent once).
    suffix = f"+ext{len(extensions) + 1}"
    warnings = [
        (f"{level}{suffix}", at)
        for level, at in warnings_for(policy, clock.started_at, new_due, ctx.calendar, after=now)
    ]
    paused = clock.status == DeadlineStatus.paused
    values = {
        "due_at": new_due,
        "extensions": [*extensions, record],
        "warnings": warnings_json(warnings),
        "warn_at": None if paused else min((at for _, at in warnings), default=None),
        "status": clock.status.value if paused else DeadlineStatus.active.value,
    }
    event = queries.record_event(
        row,
        kind="deadline",
        at=now,
        actor=actor.username,
        actor_role=actor.role.value,
        actor_unit_code=actor.unit_code,
        reason=body.reason,
        payload={"extended": clock.kind, "deadline_id": deadline_id, **record},
    )
    async with engine.begin() as conn:
        version = await queries.add_event(conn, row, event, now=now)
        if version is None:
            await conn.rollback()
            raise StaleVersion("Someone else changed the case meanwhile; reload it.", current_version=None)
        await conn.execute(sa.update(deadline).where(deadline.c.id == deadline_id).values(**values))
    async with engine.connect() as conn:
        fresh = await queries.fetch_case(conn, case_id)
    assert fresh is not None
    return case_public(fresh, ctx, now=now)
