"""The security log over HTTP, for the auditors: a page at a time, or the whole selection as CSV."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, StringConstraints

from service import clock
from service.audit.queries import KNOWN_KINDS, EventFilter
from service.auditor import service
from service.clock import SHANGHAI
from service.context import ContextDep
from service.db import EngineDep
from service.errors import PROBLEM_CONTENT
from service.users.deps import ActorDep, ClientAddress

router = APIRouter(prefix="/api/v1/security-events", tags=["audit"])

LOG_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"description": "not signed in", **PROBLEM_CONTENT},
    403: {"description": "only an auditor reads the security log", **PROBLEM_CONTENT},
    422: {"description": "an invalid filter, named (an unknown unit, until before since)", **PROBLEM_CONTENT},
}
CSV = "text/csv; charset=utf-8"
Kind = Annotated[str, StringConstraints(min_length=1, max_length=32)]


class SecurityEventPublic(BaseModel):
    id: int
    at: datetime
    kind: str = Field(description=f"what happened, e.g. {', '.join(KNOWN_KINDS[:6])}, …")
    actor: str = Field(description="who did it: a username, 'cli' for the console, 'system'")
    actor_role: str | None
    actor_unit_code: str | None
    case_id: int | None
    party_id: int | None
    reason: str | None = Field(description="the reason given (a reveal's), or why the service acted")
    payload: dict[str, Any]
    client_ip: str | None


class SecurityEventPage(BaseModel):
    items: list[SecurityEventPublic]
    total: int
    limit: int
    offset: int


async def log_filter(
    ctx: ContextDep,
    actor: Annotated[
        str | None, Query(max_length=64, description="the person who acted (a username)")
    ] = None,
    unit: Annotated[
        str | None, Query(max_length=32, description="a unit code: the people of its whole subtree")
    ] = None,
    case_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    kind: Annotated[
        list[Kind], Query(max_length=40, description="one or more kinds (repeat the parameter)")
    ] = [],  # noqa: B006  (FastAPI copies a query default; it is never mutated)
    since: Annotated[
        datetime | None, Query(description="from this instant on (without a zone: Kunshan time)")
    ] = None,
    until: Annotated[datetime | None, Query(description="before this instant")] = None,
) -> EventFilter:
    return service.event_filter(
        ctx.org, actor=actor, unit=unit, case_id=case_id, kinds=kind, since=since, until=until
    )


LogFilter = Annotated[EventFilter, Depends(log_filter)]


@router.get("", response_model=SecurityEventPage, operation_id="list_security_events", responses=LOG_ERRORS)
async def list_security_events(
    actor: ActorDep,
    f: LogFilter,
    engine: EngineDep,
    client_ip: ClientAddress,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> SecurityEventPage:
    """Sign-ins and lock-outs, token and account changes, role grants, webhook changes, reveals of
    personal data with their reasons, exports — newest first. Your reading is recorded in the log."""
    rows, total = await service.read_log(
        engine, actor, f, limit=limit, offset=offset, client_ip=client_ip, now=clock.now()
    )
    return SecurityEventPage(
        items=[SecurityEventPublic.model_validate(r, from_attributes=True) for r in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get(
    "/export",
    operation_id="export_security_events",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "every matching event as CSV (UTF-8 with BOM), newest first; a cell "
            "starting with = + - @ is written with a leading ' so no spreadsheet runs it",
            "content": {CSV: {}},
        },
        **LOG_ERRORS,
    },
)
async def export_security_events(
    actor: ActorDep, f: LogFilter, engine: EngineDep, client_ip: ClientAddress
) -> StreamingResponse:
    """The same selection as the list, all of it, as a CSV file. The export is recorded in the log."""
    now = clock.now()
    export = await service.export_log(engine, actor, f, client_ip=client_ip, now=now)
    filename = f"jiefen-security-events-{now.astimezone(SHANGHAI):%Y%m%d-%H%M%S}.csv"
    return StreamingResponse(
        export.chunks,
        media_type=CSV,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
            "X-Total-Count": str(export.rows),
        },
    )
