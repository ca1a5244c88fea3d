"""A unit's inbox: what arrived, read and unread, as its members are allowed to see it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field

from service import clock
from service.cases.models import Case
from service.cases.scope import scope_filter
from service.context import ContextDep
from service.db import EngineDep
from service.errors import Forbidden, NotFound
from service.notifications.models import InboxItem
from service.users.deps import ActorDep
from workflows.lifecycle import Actor, Role
from workflows.org import OrgTree

router = APIRouter(prefix="/api/v1", tags=["inbox"])

inbox = InboxItem.__table__  # type: ignore[attr-defined]
cases = Case.__table__  # type: ignore[attr-defined]

UnitCode = Annotated[str, Path(max_length=32)]


class InboxItemPublic(BaseModel):
    id: int
    case_id: int | None = Field(description="None for an alert to the auditors (its payload names the case)")
    kind: str
    reason: str | None
    payload: dict[str, Any]
    created_at: datetime
    read_at: datetime | None
    read_by: str | None
    audience: str | None = Field(default=None, description="only this role sees the item (auditor: an alert)")


class InboxPage(BaseModel):
    items: list[InboxItemPublic]
    unread: int
    total: int


def _may_read(actor: Actor, code: str, org: OrgTree) -> bool:
    if actor.role in (Role.auditor, Role.system):
        return True
    if actor.role == Role.coordinator:
        return code in org.subtree(actor.unit_code)
    return actor.role != Role.admin and actor.unit_code == code


def _not_hidden_sensitive(actor: Actor, org: OrgTree) -> sa.ColumnElement[bool]:
    """Items about a sensitive case show only to those who may still open the case (PIPL art. 28)."""
    sensitive_cases = sa.select(cases.c.id).where(cases.c.sensitive.is_(True))
    if actor.role == Role.system:
        return sa.true()
    if actor.role in (Role.auditor, Role.admin):
        return sa.or_(inbox.c.case_id.is_(None), inbox.c.case_id.not_in(sensitive_cases))
    units = scope_filter(actor, org).unit_codes
    if units is None:
        return sa.true()
    hidden = sensitive_cases.where(cases.c.unit_code.not_in(sorted(units)))
    # A report of a risk of crime reaches the 派出所 or 司法所 it is addressed to whatever the case
    # (人民调解法 art. 25); they read the report and a masked brief, never the case itself.
    return sa.or_(inbox.c.case_id.is_(None), inbox.c.kind == "crime_report", inbox.c.case_id.not_in(hidden))


def _for_audience(actor: Actor) -> sa.ColumnElement[bool]:
    """An item addressed to one role (the auditors' alerts) shows to that role only."""
    if actor.role == Role.system:
        return sa.true()
    return sa.or_(inbox.c.audience.is_(None), inbox.c.audience == actor.role.value)


def _check(actor: Actor, code: str, org: OrgTree) -> None:
    if code not in org or not _may_read(actor, code, org):
        raise NotFound(f"No inbox for unit {code!r}.")


@router.get("/units/{code}/inbox", response_model=InboxPage, operation_id="get_unit_inbox")
async def get_inbox(
    code: UnitCode,
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    unread: bool = False,
    kind: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> InboxPage:
    """What arrived at a unit — new cases, dispatches, escalations, hand-offs, warnings, breaches — newest first."""
    _check(actor, code, ctx.org)
    where = [inbox.c.unit_code == code, _not_hidden_sensitive(actor, ctx.org), _for_audience(actor)]
    if kind:
        where.append(inbox.c.kind == kind)
    listed = [*where, inbox.c.read_at.is_(None)] if unread else where
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(inbox)
                .where(*listed)
                .order_by(inbox.c.created_at.desc(), inbox.c.id.desc())
                .limit(limit)
                .offset(offset)
            )
        ).all()
        total = (
            await conn.execute(sa.select(sa.func.count()).select_from(inbox).where(*listed))
        ).scalar_one()
        unread_count = (
            await conn.execute(
                sa.select(sa.func.count()).select_from(inbox).where(*where, inbox.c.read_at.is_(None))
            )
        ).scalar_one()
    return InboxPage(
        items=[InboxItemPublic.model_validate(dict(r._mapping)) for r in rows],
        unread=unread_count,
        total=total,
    )


@router.post("/units/{code}/inbox/{item_id}/read", status_code=204, operation_id="mark_inbox_item_read")
async def mark_read(
    code: UnitCode,
    item_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
) -> Response:
    """Mark one inbox item read (by you, now). Reading again keeps the first reader. An auditor
    marks only the alerts addressed to auditors."""
    _check(actor, code, ctx.org)
    async with engine.begin() as conn:
        found = (
            await conn.execute(
                sa.select(inbox.c.id, inbox.c.audience).where(
                    inbox.c.id == item_id, inbox.c.unit_code == code, _for_audience(actor)
                )
            )
        ).first()
        if actor.role == Role.auditor and (found is None or found.audience != Role.auditor.value):
            raise Forbidden("An auditor reads the inbox but changes only the alerts addressed to auditors.")
        if found is None:
            raise NotFound(f"No inbox item {item_id} at {code}.")
        await conn.execute(
            sa.update(inbox)
            .where(inbox.c.id == item_id, inbox.c.read_at.is_(None))
            .values(read_at=clock.now(), read_by=actor.username)
        )
    return Response(status_code=204)
