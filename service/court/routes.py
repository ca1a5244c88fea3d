"""The court desk queue over HTTP."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel

from service import clock
from service.cases.routes import case_response
from service.cases.schemas import CasePublic, CaseSummary
from service.context import ContextDep
from service.court import service
from service.db import EngineDep
from service.language import read_accept_language
from service.users.deps import ActorDep

router = APIRouter(prefix="/api/v1/court", tags=["court"], dependencies=[Depends(read_accept_language)])


class QueuePage(BaseModel):
    items: list[CaseSummary]
    total: int


@router.get("/queue", response_model=QueuePage, operation_id="list_court_queue")
async def court_queue(
    actor: ActorDep,
    engine: EngineDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> QueuePage:
    """Cases referred to the court, gravest first, then longest waiting."""
    items, total = await service.list_queue(engine, actor, limit=limit, offset=offset)
    return QueuePage(items=items, total=total)


@router.post(
    "/queue/claim",
    response_model=CasePublic,
    operation_id="claim_next_court_case",
    responses={204: {"description": "the queue is empty"}},
)
async def claim_next(actor: ActorDep, engine: EngineDep, ctx: ContextDep) -> Response:
    """Claim the next case for yourself: a lease that returns it to the queue if you record nothing in time."""
    case = await service.claim_next(engine, ctx, actor, now=clock.now())
    if case is None:
        return Response(status_code=204)
    return case_response(case, headers={"Location": f"/api/v1/cases/{case.id}"})
