"""HTTP routes for who handles a case: thin — parse, call the use case, return."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from service import clock
from service.assignment import service
from service.assignment.schemas import (
    AssignIn,
    CaseMediators,
    DecisionIn,
    NeedsReassignment,
    ReassignLeadIn,
    RemoveIn,
    SuggestionPublic,
)
from service.context import ContextDep
from service.db import EngineDep
from service.errors import PROBLEM_CONTENT
from service.users.deps import ActorDep

router = APIRouter(prefix="/api/v1", tags=["mediators"])

CaseId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the case's id")]
ERRORS: dict[int | str, dict[str, object]] = {
    401: {"description": "not signed in", **PROBLEM_CONTENT},
    403: {"description": "you may read the case but not change its mediators", **PROBLEM_CONTENT},
    404: {"description": "no such case, or outside your scope", **PROBLEM_CONTENT},
    409: {
        "description": "the rule the change breaks (barred mediator, one lead, closed case)",
        **PROBLEM_CONTENT,
    },
    412: {"description": "the case changed meanwhile; reload", **PROBLEM_CONTENT},
    422: {"description": "invalid fields, each named", **PROBLEM_CONTENT},
}


@router.get(
    "/cases/{case_id}/mediators",
    response_model=CaseMediators,
    responses=ERRORS,
    operation_id="get_case_mediators",
)
async def get_case_mediators(
    case_id: CaseId, actor: ActorDep, engine: EngineDep, ctx: ContextDep
) -> CaseMediators:
    """The case's lead and co-mediators, past assignments with their end, and the decisions."""
    return await service.case_mediators(engine, ctx, case_id, actor, now=clock.now())


@router.post(
    "/cases/{case_id}/mediators/assign",
    response_model=CaseMediators,
    responses=ERRORS,
    operation_id="assign_mediator",
)
async def assign_mediator(
    case_id: CaseId, body: AssignIn, actor: ActorDep, engine: EngineDep, ctx: ContextDep
) -> CaseMediators:
    """Put an active mediator of the case's unit on the case, as lead or co-mediator."""
    return await service.assign(engine, ctx, case_id, body, actor, now=clock.now())


@router.post(
    "/cases/{case_id}/mediators/reassign-lead",
    response_model=CaseMediators,
    responses=ERRORS,
    operation_id="reassign_lead_mediator",
)
async def reassign_lead_mediator(
    case_id: CaseId, body: ReassignLeadIn, actor: ActorDep, engine: EngineDep, ctx: ContextDep
) -> CaseMediators:
    """Replace the lead mediator, with a reason."""
    return await service.reassign_lead(engine, ctx, case_id, body, actor, now=clock.now())


@router.post(
    "/cases/{case_id}/mediators/remove",
    response_model=CaseMediators,
    responses=ERRORS,
    operation_id="remove_mediator",
)
async def remove_mediator(
    case_id: CaseId, body: RemoveIn, actor: ActorDep, engine: EngineDep, ctx: ContextDep
) -> CaseMediators:
    """Take a mediator off the case, with a reason."""
    return await service.remove(engine, ctx, case_id, body, actor, now=clock.now())


@router.post(
    "/cases/{case_id}/mediators/decisions",
    response_model=CaseMediators,
    responses=ERRORS,
    operation_id="record_mediator_decision",
)
async def record_mediator_decision(
    case_id: CaseId, body: DecisionIn, actor: ActorDep, engine: EngineDep, ctx: ContextDep
) -> CaseMediators:
    """A party's choice or refusal of a mediator, or a mediator's withdrawal (回避)."""
    return await service.record_decision(engine, ctx, case_id, body, actor, now=clock.now())


@router.get(
    "/cases/{case_id}/mediator-suggestions",
    response_model=list[SuggestionPublic],
    responses=ERRORS,
    operation_id="suggest_mediators",
)
async def suggest_mediators(
    case_id: CaseId,
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    language: Annotated[
        list[str] | None, Query(max_length=10, description="a language the parties need")
    ] = None,
) -> list[SuggestionPublic]:
    """The unit's active mediators ranked for the case, with the reasons; nothing is assigned."""
    wanted = frozenset(s.strip() for s in language or [] if s.strip())
    return await service.suggestions(engine, ctx, case_id, actor, languages=wanted)


@router.get(
    "/mediators/needs-reassignment",
    response_model=list[NeedsReassignment],
    responses=ERRORS,
    operation_id="list_needs_reassignment",
)
async def list_needs_reassignment(
    actor: ActorDep, engine: EngineDep, ctx: ContextDep
) -> list[NeedsReassignment]:
    """Open cases in your units whose lead is inactive, or in mediation with no lead."""
    return await service.needs_reassignment(engine, ctx, actor)
