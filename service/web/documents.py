"""A case's statutory documents on its page: the kinds that apply now with generate buttons (PDF,
Word), and every version generated with its download link. The rules are the API's
(service.documents); a refusal becomes a message on the page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncEngine

from service import clock
from service.attachments.routes import content_disposition
from service.cases.schemas import CasePublic
from service.context import AppContext
from service.db import EngineDep
from service.documents import service as documents
from service.documents.render import DocumentFormat, DocumentKind, Templates
from service.documents.schemas import DocumentIn, DocumentPublic
from service.errors import InvalidInput
from service.http_safety import client_ip
from service.numbering.service import Numbering
from service.web.base import CtxDep, SessionDep, WebRoute, form_text, read_form
from workflows.lifecycle import Actor

router = APIRouter(route_class=WebRoute, include_in_schema=False)

CaseId = Annotated[int, Path(ge=1, le=2**63 - 1)]
DocumentId = Annotated[int, Path(ge=1, le=2**63 - 1)]
OUTCOMES = frozenset({"generated", "refused"})


@dataclass(frozen=True, slots=True)
class Section:
    kinds: list[str]  # the kinds the case has as it stands
    items: list[DocumentPublic]
    may_generate: bool
    outcome: str | None


async def section(
    request: Request, engine: AsyncEngine, ctx: AppContext, case: CasePublic, actor: Actor, *, now: datetime
) -> Section:
    kinds, items, may = await documents.page_view(engine, ctx, case.id, actor, now=now)
    outcome = request.query_params.get("document")
    return Section(
        kinds=[k.value for k in kinds],
        items=items,
        may_generate=may,
        outcome=outcome if outcome in OUTCOMES else None,
    )


def _back(case_id: int, outcome: str) -> RedirectResponse:
    return RedirectResponse(f"/cases/{case_id}?document={outcome}#documents", status_code=303)


@router.post("/cases/{case_id}/documents")
async def generate(
    request: Request, case_id: CaseId, session: SessionDep, engine: EngineDep, ctx: CtxDep
) -> Response:
    form = await read_form(request, session)
    kind, fmt = form_text(form, "kind"), form_text(form, "format")
    if kind not in DocumentKind.__members__ or fmt not in DocumentFormat.__members__:
        return _back(case_id, "refused")
    templates: Templates = request.app.state.document_templates
    numbering: Numbering = request.app.state.numbering
    body = DocumentIn(kind=DocumentKind(kind), format=DocumentFormat(fmt))
    try:
        await documents.generate(
            engine, ctx, templates, numbering, case_id, body, session.actor, now=clock.now()
        )
    except InvalidInput:
        return _back(case_id, "refused")
    return _back(case_id, "generated")


@router.get("/cases/{case_id}/documents/{document_id}/file")
async def download(
    request: Request,
    case_id: CaseId,
    document_id: DocumentId,
    session: SessionDep,
    engine: EngineDep,
    ctx: CtxDep,
) -> Response:
    row, data = await documents.read_logged(
        engine, ctx, case_id, document_id, session.actor, now=clock.now(), client_ip=client_ip(request)
    )
    return Response(
        data,
        media_type=row.media_type,
        headers={
            "Content-Disposition": content_disposition(row.filename),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )
