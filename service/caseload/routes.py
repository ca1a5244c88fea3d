"""HTTP routes of a person's own work and the caseload: thin — the actor, the use case, the answer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from service import clock
from service.caseload import service
from service.caseload.schemas import Caseload, MyCases, MyDeadlines
from service.context import ContextDep
from service.db import EngineDep
from service.errors import PROBLEM_CONTENT
from service.users.deps import ActorDep

router = APIRouter(prefix="/api/v1", tags=["mediators"])

SIGNED_IN: dict[int | str, dict[str, object]] = {401: {"description": "not signed in", **PROBLEM_CONTENT}}


@router.get("/me/cases", response_model=MyCases, operation_id="list_my_cases", responses=SIGNED_IN)
async def my_cases(actor: ActorDep, engine: EngineDep, ctx: ContextDep) -> MyCases:
    """The open cases your roster record is assigned to now (lead or co), sorted by what is due
    next: the case's running deadline due soonest (overdue first), cases with only a paused clock
    after them, cases with none last. Each case's next deadline in local time, in words. Without a
    roster record: an empty list and a `message` saying why."""
    return await service.my_cases(engine, ctx, actor, now=clock.now())


@router.get(
    "/me/deadlines", response_model=MyDeadlines, operation_id="list_my_deadlines", responses=SIGNED_IN
)
async def my_deadlines(actor: ActorDep, engine: EngineDep, ctx: ContextDep) -> MyDeadlines:
    """The open deadlines of your cases: overdue ones first (`overdue`: breached, or running past
    due now), then the soonest; paused ones last. Without a roster record: empty, with a `message`."""
    return await service.my_deadlines(engine, ctx, actor, now=clock.now())


@router.get(
    "/mediators/caseload",
    response_model=Caseload,
    operation_id="mediator_caseload",
    responses={
        **SIGNED_IN,
        403: {"description": "only coordinators, auditors and administrators", **PROBLEM_CONTENT},
        404: {"description": "the unit is outside your scope", **PROBLEM_CONTENT},
        422: {"description": "no such unit", **PROBLEM_CONTENT},
    },
)
async def caseload(
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    unit: Annotated[
        str | None,
        Query(max_length=32, description="a unit code (default: yours): its roster and the units under it"),
    ] = None,
) -> Caseload:
    """Each mediator on the roster of the unit and the units under it (a town: its villages too):
    open cases led and co-mediated, deadlines overdue on them now, cases closed this month while
    assigned; and the month's statistics by mediator (as `/stats/by-mediator`). Coordinators of the
    unit or above it, auditors and administrators; mediators and other roles: 403."""
    return await service.caseload(engine, ctx, actor, unit, now=clock.now())
