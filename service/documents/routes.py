"""HTTP routes for a case's statutory documents: thin — parse, call the use case, return."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from service import clock
from service.attachments.routes import content_disposition
from service.context import ContextDep
from service.db import EngineDep
from service.documents import service as documents
from service.documents.render import Templates
from service.documents.schemas import DocumentIn, DocumentPublic
from service.errors import PROBLEM_CONTENT
from service.numbering.routes import NumberingDep
from service.users.deps import ActorDep, ClientAddress

router = APIRouter(prefix="/api/v1/cases", tags=["documents"])

ERRORS: dict[int | str, dict[str, object]] = {
    404: {"description": "no such case or document, or outside your scope", **PROBLEM_CONTENT},
    409: {"description": "you may read the case's documents but not generate them", **PROBLEM_CONTENT},
    412: {"description": "the case changed while the document was written; try again", **PROBLEM_CONTENT},
}

CaseId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the case's id")]
DocumentId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the document version's id")]


async def get_templates(request: Request) -> Templates:
    found: Templates = request.app.state.document_templates
    return found


TemplatesDep = Annotated[Templates, Depends(get_templates)]


@router.post(
    "/{case_id}/documents",
    response_model=DocumentPublic,
    status_code=201,
    operation_id="generate_document",
    responses=ERRORS,
)
async def generate(
    case_id: CaseId,
    body: DocumentIn,
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    templates: TemplatesDep,
    numbering: NumberingDep,
) -> DocumentPublic:
    """Generate a statutory document (申请书, 受理登记表, 权利义务告知书, 调解记录, 协议书, 口头协议
    登记表, 回访记录, 终止调解通知书, 司法确认申请书, 移交（委托调解）函) from the case as it stands,
    as PDF or .docx: a new version each time (earlier ones stay), numbered (the first version takes
    the 文书编号, later ones keep it), its SHA-256 in the case's audit chain. A kind the case does
    not have yet: 422 naming ``kind``; a session record names its session (``session_id``, 422 if
    missing or another case's)."""
    return await documents.generate(engine, ctx, templates, numbering, case_id, body, actor, now=clock.now())


@router.get(
    "/{case_id}/documents",
    response_model=list[DocumentPublic],
    operation_id="list_documents",
    responses=ERRORS,
)
async def list_documents(
    case_id: CaseId, actor: ActorDep, engine: EngineDep, ctx: ContextDep
) -> list[DocumentPublic]:
    """Every version generated for the case, oldest first."""
    return await documents.list_documents(engine, ctx, case_id, actor)


@router.get(
    "/{case_id}/documents/{document_id}/content",
    operation_id="download_document",
    response_class=Response,
    responses={
        **ERRORS,
        200: {
            "description": "the document",
            "content": {"application/pdf": {}, documents.MEDIA_TYPES[documents.DocumentFormat.docx]: {}},
        },
    },
)
async def download(
    case_id: CaseId,
    document_id: DocumentId,
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    client_ip: ClientAddress,
) -> Response:
    """One version's bytes, as an attachment; the download goes into the security log."""
    row, data = await documents.read_logged(
        engine, ctx, case_id, document_id, actor, now=clock.now(), client_ip=client_ip
    )
    return Response(
        data,
        media_type=row.media_type,
        headers={
            "Content-Disposition": content_disposition(row.filename),
            "X-Content-Type-Options": "nosniff",
            "ETag": f'"{row.sha256}"',
            "Cache-Control": "no-store",
        },
    )
