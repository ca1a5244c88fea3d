"""A case's files on its page: the list, the upload form (a phone's camera straight to the case),
the download, and withdrawing a wrong upload with a reason. The rules are the API's
(service.attachments); these handlers only turn a refusal into a message on the page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.datastructures import UploadFile

from service import clock
from service.attachments import service as attachments
from service.attachments.routes import file_response
from service.attachments.schemas import NOTE_LIMIT, AttachmentKind, AttachmentPublic, WithdrawalIn
from service.attachments.sniff import FileTooLarge, UnsupportedFileType
from service.cases.rows import CaseRow
from service.context import AppContext
from service.db import EngineDep
from service.errors import InvalidInput
from service.http_safety import client_ip
from service.web.base import CtxDep, SessionDep, WebRoute, form_text, read_form
from workflows.lifecycle import Actor

router = APIRouter(route_class=WebRoute, include_in_schema=False)

CaseId = Annotated[int, Path(ge=1, le=2**63 - 1)]
AttachmentId = Annotated[int, Path(ge=1, le=2**63 - 1)]
KINDS = [kind.value for kind in AttachmentKind]
# What the page says after an upload or a refusal (?attachment=…): a message key, never raw text.
OUTCOMES = frozenset(
    {"added", "already", "withdrawn", "too_large", "type", "kind", "missing", "two", "reason", "note"}
)


@dataclass(frozen=True, slots=True)
class Section:
    items: list[AttachmentPublic]
    may_change: bool
    kinds: list[str]
    max_mb: int
    outcome: str | None  # one of OUTCOMES
    rule: str | None  # the content rule a refused file broke (sniff's rule names)

    @staticmethod
    def size(size_bytes: int) -> str:
        return size_text(size_bytes)

    @property
    def refused(self) -> bool:
        return self.outcome not in (None, "added", "already", "withdrawn")


def size_text(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    return f"{max(1, round(size / 1024))} KB"


async def section(
    request: Request, engine: AsyncEngine, ctx: AppContext, row: CaseRow, actor: Actor, *, now: datetime
) -> Section:
    """The section of a case the page has read for the actor (``visible_row``)."""
    outcome = request.query_params.get("attachment")
    rule = request.query_params.get("rule")
    items, may_change = await attachments.page_view_of(engine, ctx, row, actor, now=now)
    return Section(
        items=items,
        may_change=may_change,
        kinds=KINDS,
        max_mb=ctx.settings.attachment_max_bytes // (1024 * 1024),
        outcome=outcome if outcome in OUTCOMES else None,
        rule=rule if rule and rule.replace("-", "").isalpha() and len(rule) <= 20 else None,
    )


def _back(case_id: int, outcome: str, rule: str | None = None) -> RedirectResponse:
    query = f"attachment={outcome}" + (f"&rule={rule}" if rule else "")
    return RedirectResponse(f"/cases/{case_id}?{query}#attachments", status_code=303)


@router.post("/cases/{case_id}/attachments")
async def upload(
    request: Request, case_id: CaseId, session: SessionDep, engine: EngineDep, ctx: CtxDep
) -> Response:
    form = await read_form(request, session)
    # The camera's photo (``photo``) or a chosen file (``file``): one of them, not both.
    given = [f for f in (form.get("photo"), form.get("file")) if isinstance(f, UploadFile) and f.filename]
    kind = form_text(form, "kind")
    note = form_text(form, "note")
    if not given:
        return _back(case_id, "missing")
    if len(given) > 1:
        return _back(case_id, "two")
    [file] = given
    assert file.filename is not None
    if kind not in KINDS:
        return _back(case_id, "kind")
    if len(note) > NOTE_LIMIT:
        return _back(case_id, "note")
    try:
        data = await attachments.read_bounded(file.read, ctx.settings.attachment_max_bytes)
        _, created = await attachments.upload(
            engine,
            ctx,
            case_id,
            session.actor,
            kind=AttachmentKind(kind),
            note=note,
            filename=file.filename,
            data=data,
            now=clock.now(),
        )
    except FileTooLarge:
        return _back(case_id, "too_large")
    except UnsupportedFileType as refused:
        return _back(case_id, "type", str(refused.extra["rule"]))
    return _back(case_id, "added" if created else "already")


@router.get("/cases/{case_id}/attachments/{attachment_id}/file")
async def download(
    request: Request,
    case_id: CaseId,
    attachment_id: AttachmentId,
    session: SessionDep,
    engine: EngineDep,
    ctx: CtxDep,
) -> StreamingResponse:
    found = await attachments.download(
        engine, ctx, case_id, attachment_id, session.actor, now=clock.now(), client_ip=client_ip(request)
    )
    return file_response(found)


@router.post("/cases/{case_id}/attachments/{attachment_id}/withdrawal")
async def withdraw(
    request: Request,
    case_id: CaseId,
    attachment_id: AttachmentId,
    session: SessionDep,
    engine: EngineDep,
    ctx: CtxDep,
) -> Response:
    form = await read_form(request, session)
    reason = form_text(form, "reason")
    if not reason or len(reason) > NOTE_LIMIT:
        return _back(case_id, "reason")
    try:
        await attachments.withdraw(
            engine, ctx, case_id, attachment_id, WithdrawalIn(reason=reason), session.actor, now=clock.now()
        )
    except InvalidInput:
        return _back(case_id, "reason")
    return _back(case_id, "withdrawn")
