"""HTTP routes for the mediators' roster: thin — parse, call the use case, return."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Response, UploadFile
from sqlalchemy.ext.asyncio import AsyncEngine

from service import clock
from service.context import AppContext, ContextDep
from service.db import EngineDep
from service.errors import PROBLEM_CONTENT, field_error
from service.mediators import service
from service.mediators.importer import MAX_BYTES
from service.mediators.schemas import (
    ImportResult,
    MediatorEdit,
    MediatorIn,
    MediatorPage,
    MediatorPublic,
    StatusChange,
)
from service.users.deps import ActorDep, ClientAddress
from workflows.lifecycle import Actor
from workflows.vocab import DisputeType

router = APIRouter(prefix="/api/v1", tags=["mediators"])

ERRORS: dict[int | str, dict[str, object]] = {
    401: {"description": "not signed in", **PROBLEM_CONTENT},
    403: {"description": "your role may not do this", **PROBLEM_CONTENT},
    404: {"description": "no such mediator or unit, or outside your scope", **PROBLEM_CONTENT},
    422: {"description": "invalid fields, each named", **PROBLEM_CONTENT},
}
WRITE_ERRORS: dict[int | str, dict[str, object]] = {
    **ERRORS,
    409: {"description": "the sign-in is already linked to another roster record", **PROBLEM_CONTENT},
    412: {"description": "If-Match names an older version: reload", **PROBLEM_CONTENT},
}
MediatorId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the mediator's id")]
IfMatch = Annotated[
    str | None, Header(alias="If-Match", max_length=40, description='the ETag read, e.g. "3"')
]


def _parse_if_match(value: str | None) -> int | None:
    if value is None or value.strip() == "*":
        return None
    raw = value.strip().removeprefix("W/").strip('"')
    if not raw.isdigit() or len(raw) > 18:
        raise field_error("header.If-Match", 'must be the record\'s ETag, e.g. "3"')
    return int(raw)


def _answer(mediator: MediatorPublic, status_code: int = 200) -> Response:
    headers = {"ETag": f'"{mediator.version}"'}
    if status_code == 201:
        headers["Location"] = f"/api/v1/mediators/{mediator.id}"
    return Response(
        mediator.model_dump_json(), status_code=status_code, media_type="application/json", headers=headers
    )


@router.get("/mediators", response_model=MediatorPage, operation_id="list_mediators", responses=ERRORS)
async def list_mediators(
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    unit: Annotated[str | None, Query(max_length=32, description="a unit code: its whole subtree")] = None,
    active: Annotated[bool | None, Query(description="only active (true) or inactive (false) people")] = None,
    specialty: DisputeType | None = None,
    q: Annotated[str | None, Query(min_length=1, max_length=64, description="part of a name")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> MediatorPage:
    """The mediators on the rosters you may read: your unit's, or your subtree's."""
    if q is not None and "\x00" in q:
        raise field_error("query.q", "contains a NUL character")
    return await service.list_mediators(
        engine,
        ctx,
        actor,
        unit=unit,
        active=active,
        specialty=specialty,
        q=q.strip() or None if q else None,
        limit=limit,
        offset=offset,
    )


@router.post(
    "/mediators",
    status_code=201,
    response_model=MediatorPublic,
    operation_id="create_mediator",
    responses=WRITE_ERRORS,
)
async def create_mediator(
    body: MediatorIn, actor: ActorDep, engine: EngineDep, ctx: ContextDep, address: ClientAddress
) -> Response:
    """Add a person to the roster of units you keep (a coordinator: the units of your subtree)."""
    created = await service.create_mediator(engine, ctx, actor, body, now=clock.now(), client_ip=address)
    return _answer(created, 201)


@router.post(
    "/mediators/import",
    response_model=ImportResult,
    operation_id="import_mediators",
    responses={
        **WRITE_ERRORS,
        413: {"description": f"the file is over {MAX_BYTES} bytes", **PROBLEM_CONTENT},
        415: {"description": "not a CSV or XLSX file", **PROBLEM_CONTENT},
        422: {"description": "bad rows: every one listed with its line, column and rule", **PROBLEM_CONTENT},
    },
)
async def import_mediators(
    file: UploadFile,
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    address: ClientAddress,
    dry_run: Annotated[bool, Query(description="check and preview; write nothing")] = False,
) -> ImportResult:
    """Import a roster from CSV or XLSX (header row: 姓名, 单位, 专兼职, 擅长, 语言, 资格, 等级, 特邀编号,
    特邀起, 特邀止, 身份证号, 电话, 登录名, or the English names). All or nothing; a person already on
    the roster is updated."""
    content = await file.read(MAX_BYTES + 1)
    return await service.import_roster(
        engine,
        ctx,
        actor,
        file.filename or "",
        content,
        dry_run=dry_run,
        now=clock.now(),
        client_ip=address,
    )


@router.get(
    "/mediators/{mediator_id}", response_model=MediatorPublic, operation_id="get_mediator", responses=ERRORS
)
async def get_mediator(
    mediator_id: MediatorId, actor: ActorDep, engine: EngineDep, ctx: ContextDep
) -> Response:
    return _answer(await service.get_mediator(engine, ctx, mediator_id, actor))


@router.patch(
    "/mediators/{mediator_id}",
    response_model=MediatorPublic,
    operation_id="edit_mediator",
    responses=WRITE_ERRORS,
)
async def edit_mediator(
    mediator_id: MediatorId,
    body: MediatorEdit,
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    address: ClientAddress,
    if_match: IfMatch = None,
) -> Response:
    """Correct a roster record; send If-Match with the ETag you read to be told (412) when someone
    changed it meanwhile."""
    edited = await service.edit_mediator(
        engine,
        ctx,
        actor,
        mediator_id,
        body,
        if_match=_parse_if_match(if_match),
        now=clock.now(),
        client_ip=address,
    )
    return _answer(edited)


@router.post(
    "/mediators/{mediator_id}/deactivate",
    response_model=MediatorPublic,
    operation_id="deactivate_mediator",
    responses=WRITE_ERRORS,
)
async def deactivate_mediator(
    mediator_id: MediatorId,
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    address: ClientAddress,
    body: StatusChange | None = None,
    if_match: IfMatch = None,
) -> Response:
    """Take a person off active duty: kept on file, no longer assigned new cases."""
    return await _set_active(engine, ctx, actor, mediator_id, False, body, if_match, address)


@router.post(
    "/mediators/{mediator_id}/reactivate",
    response_model=MediatorPublic,
    operation_id="reactivate_mediator",
    responses=WRITE_ERRORS,
)
async def reactivate_mediator(
    mediator_id: MediatorId,
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    address: ClientAddress,
    body: StatusChange | None = None,
    if_match: IfMatch = None,
) -> Response:
    """Put a deactivated person back on active duty."""
    return await _set_active(engine, ctx, actor, mediator_id, True, body, if_match, address)


async def _set_active(
    engine: AsyncEngine,
    ctx: AppContext,
    actor: Actor,
    mediator_id: int,
    active: bool,
    body: StatusChange | None,
    if_match: str | None,
    address: str | None,
) -> Response:
    changed = await service.set_active(
        engine,
        ctx,
        actor,
        mediator_id,
        active,
        reason=body.reason if body else None,
        if_match=_parse_if_match(if_match),
        now=clock.now(),
        client_ip=address,
    )
    return _answer(changed)
