"""A unit's inbox: what arrived, read and unread, as each of its members is allowed to see it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Response
from pydantic import BaseModel, Field

from service import clock
from service.context import AppContext, ContextDep
from service.db import EngineDep
from service.inbox import service
from service.inbox.service import COUNT_CAP, For, InboxList, InboxQuery
from service.inbox.text import item_text, note_of, words
from service.language import language_of
from service.users.deps import ActorDep
from workflows.lifecycle import Actor

router = APIRouter(prefix="/api/v1", tags=["inbox"])

UnitCode = Annotated[str, Path(max_length=32)]
ItemId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Language = Literal["zh", "en"]


class InboxItemPublic(BaseModel):
    id: int
    case_id: int | None = Field(description="None for an alert to the auditors (its payload names the case)")
    kind: str
    text: str = Field(description="The item in words, in the language asked for (local time, labels, names)")
    note: str | None = Field(description="What the person who acted wrote, when they wrote something")
    reason: str | None = Field(description="As stored when the item was written (Chinese); prefer text")
    payload: dict[str, Any]
    created_at: datetime
    read_at: datetime | None = Field(description="When you read it; None: unread for you")
    read_by: str | None = Field(description="You, when you have read it (read state is per person)")
    audience: str | None = Field(default=None, description="only this role sees the item (auditor: an alert)")
    addressee: str | None = Field(default=None, description="the one person the item is for; None: the unit")


class InboxPage(BaseModel):
    items: list[InboxItemPublic]
    unread: int = Field(
        description=f"Items unread by you among those you see (any kind), counted up to {COUNT_CAP:,}"
    )
    unread_capped: bool = Field(description=f"There are {COUNT_CAP:,} or more: show it as {COUNT_CAP:,}+")
    total: int = Field(description=f"Items listed with these filters, counted up to {COUNT_CAP:,}")
    total_capped: bool
    next_before: int | None = Field(description="Pass as `before` for the next, older page; None at the end")
    newest: int | None = Field(description="The unit's newest item id: pass as `through` to mark all read")


class MarkedAll(BaseModel):
    through: int | None = Field(description="Everything up to this item id is read for you (None: no items)")


def language(lang: Language | None, accept_language: str | None) -> str:
    """``?lang=`` when given, else the Accept-Language header read as every other API route reads it."""
    return lang if lang is not None else language_of(accept_language)


def public(found: InboxList, actor: Actor, ctx: AppContext, lang: str) -> InboxPage:
    w = words(lang, ctx.org, ctx.policies, now=clock.now())
    return InboxPage(
        items=[
            InboxItemPublic(
                id=r.id,
                case_id=r.case_id,
                kind=r.kind,
                text=item_text(w, r.kind, r.payload),
                note=note_of(r.kind, r.reason, r.caused_by),
                reason=r.reason,
                payload=r.payload,
                created_at=r.created_at,
                read_at=r.read_at,
                read_by=actor.username if r.read_at else None,
                audience=r.audience,
                addressee=r.addressee,
            )
            for r in found.items
        ],
        unread=found.unread,
        unread_capped=found.unread_capped,
        total=found.total,
        total_capped=found.total_capped,
        next_before=found.next_before,
        newest=found.newest,
    )


@router.get("/units/{code}/inbox", response_model=InboxPage, operation_id="get_unit_inbox")
async def get_inbox(
    code: UnitCode,
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    unread: bool = False,
    kind: Annotated[str | None, Query(max_length=32)] = None,
    for_: Annotated[
        For | None, Query(alias="for", description="me: addressed to you; unit: to the unit")
    ] = None,
    before: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="next_before of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    lang: Language | None = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> InboxPage:
    """What arrived at a unit — new cases, dispatches, escalations, hand-offs, warnings, breaches —
    newest first, without what you did yourself, with each item in words (`lang`, else the
    Accept-Language: zh or en)."""
    q = InboxQuery(unread=unread, kind=kind, for_=for_, before=before, offset=offset, limit=limit)
    found = await service.list_inbox(engine, actor, code, ctx.org, q)
    return public(found, actor, ctx, language(lang, accept_language))


@router.post("/units/{code}/inbox/{item_id}/read", status_code=204, operation_id="mark_inbox_item_read")
async def mark_read(
    code: UnitCode, item_id: ItemId, actor: ActorDep, engine: EngineDep, ctx: ContextDep
) -> Response:
    """Mark one inbox item read, for you (colleagues keep their own read state). An auditor marks
    only the alerts addressed to auditors."""
    await service.mark_read(engine, actor, code, ctx.org, item_id, now=clock.now())
    return Response(status_code=204)


@router.delete("/units/{code}/inbox/{item_id}/read", status_code=204, operation_id="mark_inbox_item_unread")
async def mark_unread(
    code: UnitCode, item_id: ItemId, actor: ActorDep, engine: EngineDep, ctx: ContextDep
) -> Response:
    """Mark one inbox item unread again, for you."""
    await service.mark_unread(engine, actor, code, ctx.org, item_id)
    return Response(status_code=204)


@router.post("/units/{code}/inbox/read", response_model=MarkedAll, operation_id="mark_inbox_read_all")
async def mark_all_read(
    code: UnitCode,
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    through: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="the newest item id you saw")
    ] = None,
) -> MarkedAll:
    """Mark every item you see at the unit read, for you (up to `through`)."""
    upto = await service.mark_all_read(engine, actor, code, ctx.org, through=through, now=clock.now())
    return MarkedAll(through=upto)
