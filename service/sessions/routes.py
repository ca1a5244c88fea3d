"""HTTP routes for a case's mediation sessions: thin — parse, call the use case, return."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Response

from service import clock
from service.context import ContextDep
from service.db import EngineDep
from service.errors import PROBLEM_CONTENT, field_error
from service.sessions import service
from service.sessions.schemas import CaseSessions, SessionCorrection, SessionIn, SessionPublic
from service.users.deps import ActorDep

router = APIRouter(prefix="/api/v1", tags=["sessions"])

CaseId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the case's id")]
SessionId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the session record's id")]
IfMatch = Annotated[
    str | None, Header(alias="If-Match", max_length=40, description="the record's ETag you corrected")
]
ERRORS: dict[int | str, dict[str, object]] = {
    401: {"description": "not signed in", **PROBLEM_CONTENT},
    404: {"description": "no such case or session, or outside your scope", **PROBLEM_CONTENT},
    409: {
        "description": "you may read the case but not record its sessions, or it is closed",
        **PROBLEM_CONTENT,
    },
    412: {"description": "the record (or the case) changed meanwhile; reload", **PROBLEM_CONTENT},
    422: {"description": "invalid fields, each named", **PROBLEM_CONTENT},
}


def _version(value: str | None) -> int | None:
    if value is None:
        return None
    raw = value.strip().removeprefix("W/").strip('"')
    if not raw.isdigit():
        raise field_error("header.If-Match", 'must be the record\'s ETag, e.g. "1"')
    return int(raw)


@router.get(
    "/cases/{case_id}/sessions",
    response_model=CaseSessions,
    responses=ERRORS,
    operation_id="list_case_sessions",
)
async def list_case_sessions(
    case_id: CaseId, actor: ActorDep, engine: EngineDep, ctx: ContextDep
) -> CaseSessions:
    """The case's mediation sessions, in the order they were held."""
    return await service.list_sessions(engine, ctx, case_id, actor, now=clock.now())


@router.get(
    "/cases/{case_id}/sessions/{session_id}",
    response_model=SessionPublic,
    responses=ERRORS,
    operation_id="get_case_session",
)
async def get_case_session(
    case_id: CaseId,
    session_id: SessionId,
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    response: Response,
) -> SessionPublic:
    """One session's record; its ETag is the version a correction names in If-Match."""
    found = await service.get_session(engine, ctx, case_id, session_id, actor)
    response.headers["ETag"] = f'"{found.version}"'
    return found


@router.post(
    "/cases/{case_id}/sessions",
    response_model=SessionPublic,
    status_code=201,
    responses=ERRORS,
    operation_id="record_case_session",
)
async def record_case_session(
    case_id: CaseId, body: SessionIn, actor: ActorDep, engine: EngineDep, ctx: ContextDep, response: Response
) -> SessionPublic:
    """Record a session: when, where, who attended, what each side said, what was proposed, the result."""
    written = await service.record_session(engine, ctx, case_id, body, actor, now=clock.now())
    response.headers["ETag"] = f'"{written.version}"'
    return written


@router.put(
    "/cases/{case_id}/sessions/{session_id}",
    response_model=SessionPublic,
    responses=ERRORS,
    operation_id="correct_case_session",
)
async def correct_case_session(
    case_id: CaseId,
    session_id: SessionId,
    body: SessionCorrection,
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    response: Response,
    if_match: IfMatch = None,
) -> SessionPublic:
    """Correct a session's record (send it whole, with If-Match); the old wording stays on the trail."""
    written = await service.correct_session(
        engine, ctx, case_id, session_id, body, actor, now=clock.now(), if_match=_version(if_match)
    )
    response.headers["ETag"] = f'"{written.version}"'
    return written
