"""HTTP routes for a case's files: thin — parse, call the use case, return."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Path, Response, UploadFile
from fastapi.responses import StreamingResponse

from service import clock
from service.attachments import service as attachments
from service.attachments.schemas import NOTE_LIMIT, AttachmentKind, AttachmentPublic, WithdrawalIn
from service.context import ContextDep
from service.db import EngineDep
from service.errors import PROBLEM_CONTENT
from service.users.deps import ActorDep, ClientAddress

router = APIRouter(prefix="/api/v1/cases", tags=["attachments"])

# The POSTs that carry a file: their body may be as large as the file limit and the form around it.
UPLOAD_PATHS = (re.compile(r"/api/v1/cases/\d+/attachments"), re.compile(r"/cases/\d+/attachments"))
FORM_ALLOWANCE = 64 * 1024  # the multipart headers, kind, note and CSRF token around the file

ERRORS: dict[int | str, dict[str, object]] = {
    404: {"description": "no such case or file, or outside your scope", **PROBLEM_CONTENT},
    409: {
        "description": "you may read the case but not add or withdraw its files; or already withdrawn",
        **PROBLEM_CONTENT,
    },
    413: {"description": "the file is larger than JIEFEN_ATTACHMENT_MAX_BYTES", **PROBLEM_CONTENT},
    415: {
        "description": "the content is not a PDF, JPEG or PNG (the rule it broke is named)",
        **PROBLEM_CONTENT,
    },
}

CaseId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the case's id")]
AttachmentId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the file's id")]


# The case page's upload form: a body over the limit sends the browser back to the page, which
# says the file was too large (?attachment=too_large), instead of a bare 413.
UPLOAD_PAGES = ((re.compile(r"/cases/(\d+)/attachments"), r"/cases/\1?attachment=too_large#attachments"),)


def upload_limits(max_bytes: int) -> tuple[tuple[re.Pattern[str], int], ...]:
    """The body limit of the upload routes, for ``service.http_safety``."""
    return tuple((pattern, max_bytes + FORM_ALLOWANCE) for pattern in UPLOAD_PATHS)


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback name and the real one as RFC 5987 UTF-8."""
    fallback = re.sub(r"[^A-Za-z0-9._-]", "_", filename) or "file"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def file_response(found: attachments.Download) -> StreamingResponse:
    row = found.row
    return StreamingResponse(
        found.chunks,
        media_type=row.media_type,
        headers={
            "Content-Disposition": content_disposition(row.filename),
            "Content-Length": str(row.size_bytes),
            "X-Content-Type-Options": "nosniff",
            "ETag": f'"{row.sha256}"',
            "Cache-Control": "no-store",
        },
    )


@router.post(
    "/{case_id}/attachments",
    response_model=AttachmentPublic,
    status_code=201,
    operation_id="upload_attachment",
    responses=ERRORS,
)
async def upload(
    case_id: CaseId,
    file: Annotated[UploadFile, File(description="a PDF, JPEG or PNG; its type is judged by its content")],
    kind: Annotated[AttachmentKind, Form(description="签字协议书, 身份证明, 证据 or other")],
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    response: Response,
    note: Annotated[str | None, Form(max_length=NOTE_LIMIT)] = None,
) -> AttachmentPublic:
    """Keep a file on the case: a signed agreement's scan, a party's ID copy, evidence. Its type
    is read from its content (415 if it is not a sane PDF, JPEG or PNG, whatever its name says);
    larger than the limit: 413. The upload is a case event carrying the file's SHA-256. The same
    bytes already on the case (not withdrawn): 200 with that file, nothing written again."""
    data = await attachments.read_bounded(file.read, ctx.settings.attachment_max_bytes)
    kept, created = await attachments.upload(
        engine, ctx, case_id, actor, kind=kind, note=note, filename=file.filename, data=data, now=clock.now()
    )
    if not created:
        response.status_code = 200
    return kept


@router.get(
    "/{case_id}/attachments",
    response_model=list[AttachmentPublic],
    operation_id="list_attachments",
    responses=ERRORS,
)
async def list_attachments(
    case_id: CaseId, actor: ActorDep, engine: EngineDep, ctx: ContextDep
) -> list[AttachmentPublic]:
    """The case's files, oldest first, withdrawn ones marked."""
    return await attachments.list_attachments(engine, ctx, case_id, actor)


@router.get(
    "/{case_id}/attachments/{attachment_id}",
    response_model=AttachmentPublic,
    operation_id="get_attachment",
    responses=ERRORS,
)
async def get_attachment(
    case_id: CaseId, attachment_id: AttachmentId, actor: ActorDep, engine: EngineDep, ctx: ContextDep
) -> AttachmentPublic:
    """One file's record: its type, size, hash, who added it, and whether it was withdrawn and why."""
    return await attachments.get_attachment(engine, ctx, case_id, attachment_id, actor)


@router.get(
    "/{case_id}/attachments/{attachment_id}/content",
    response_class=StreamingResponse,
    operation_id="download_attachment",
    responses={
        **ERRORS,
        200: {
            "description": "the file",
            "content": {"application/pdf": {}, "image/jpeg": {}, "image/png": {}},
        },
    },
)
async def download(
    case_id: CaseId,
    attachment_id: AttachmentId,
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    client_ip: ClientAddress,
) -> StreamingResponse:
    """The file itself, as an attachment with its real type (never shown inline). Downloading a
    party's ID copy is recorded in the security log, as a reveal of personal data is."""
    found = await attachments.download(
        engine, ctx, case_id, attachment_id, actor, now=clock.now(), client_ip=client_ip
    )
    return file_response(found)


@router.post(
    "/{case_id}/attachments/{attachment_id}/withdrawal",
    response_model=AttachmentPublic,
    operation_id="withdraw_attachment",
    responses=ERRORS,
)
async def withdraw(
    case_id: CaseId,
    attachment_id: AttachmentId,
    body: WithdrawalIn,
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
) -> AttachmentPublic:
    """Mark a wrong upload withdrawn, saying why. Files are evidence: nothing is ever deleted."""
    return await attachments.withdraw(engine, ctx, case_id, attachment_id, body, actor, now=clock.now())
