"""A case's statutory documents on its page: the kinds that apply now with generate buttons (PDF,
Word), and every version generated with its download link. The rules are the API's
(service.documents); a refusal becomes a message on the page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from service import clock
from service.attachments.routes import content_disposition
from service.cases.rows import CaseRow
from service.context import AppContext
from service.db import EngineDep
from service.documents import service as documents
from service.documents.render import PER_SESSION, DocumentFormat, DocumentKind, Templates
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
    kinds: list[str]  # the kinds the case has as it stands, one per case (not per session)
    items: list[DocumentPublic]
    may_generate: bool
    outcome: str | None
    session_records: bool = False  # the reader may generate each recorded session's 调解记录
    outcome_session: int | None = None  # the session whose record the outcome is about

    def of_session(self, session_id: int) -> list[DocumentPublic]:
        """The versions of one session's record, newest first (the sessions section lists them)."""
        found = [
            d for d in self.items if d.kind == DocumentKind.session_record and d.session_id == session_id
        ]
        return list(reversed(found))


async def section(
    request: Request, engine: AsyncEngine, ctx: AppContext, row: CaseRow, actor: Actor, *, now: datetime
) -> Section:
    """The section of a case the page has read for the actor (``visible_row``)."""
    kinds, items, may = await documents.page_view_of(engine, ctx, row, actor, now=now)
    outcome = request.query_params.get("document")
    about = request.query_params.get("session", "")
    return Section(
        kinds=[k.value for k in kinds if k not in PER_SESSION],
        items=items,
        may_generate=may,
        outcome=outcome if outcome in OUTCOMES else None,
        session_records=may and DocumentKind.session_record in kinds,
        outcome_session=int(about) if about.isdigit() and len(about) < 19 else None,
    )


def _back(case_id: int, outcome: str, session_id: int | None = None) -> RedirectResponse:
    """The case page again, at the documents section, or at the session whose record it was."""
    if session_id is not None:
        where = f"/cases/{case_id}?document={outcome}&session={session_id}#session-{session_id}"
    else:
        where = f"/cases/{case_id}?document={outcome}#documents"
    return RedirectResponse(where, status_code=303)


@router.post("/cases/{case_id}/documents")
async def generate(
    request: Request, case_id: CaseId, session: SessionDep, engine: EngineDep, ctx: CtxDep
) -> Response:
    """One version of a document, as the API makes it; a session record names its session
    (``session_id``, from the session's card), every other kind none."""
    form = await read_form(request, session)
    kind, fmt = form_text(form, "kind"), form_text(form, "format")
    about = form_text(form, "session_id")
    session_id = int(about) if about.isdigit() and len(about) < 19 else None
    if kind not in DocumentKind.__members__ or fmt not in DocumentFormat.__members__:
        return _back(case_id, "refused", session_id)
    templates: Templates = request.app.state.document_templates
    numbering: Numbering = request.app.state.numbering
    try:
        body = DocumentIn(kind=DocumentKind(kind), format=DocumentFormat(fmt), session_id=session_id)
        await documents.generate(
            engine, ctx, templates, numbering, case_id, body, session.actor, now=clock.now()
        )
    except (InvalidInput, ValidationError):
        return _back(case_id, "refused", session_id)
    return _back(case_id, "generated", session_id)


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
