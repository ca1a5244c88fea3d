"""HTTP route for a closed case's 卷宗: thin — parse, call the use case, return."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from service import clock
from service.attachments.routes import content_disposition
from service.casefile.routes import RulesDep
from service.context import ContextDep
from service.db import EngineDep
from service.dossier import service as dossiers
from service.errors import PROBLEM_CONTENT
from service.numbering.routes import NumberingDep
from service.users.deps import ActorDep, ClientAddress

router = APIRouter(prefix="/api/v1/cases", tags=["case file"])

CaseId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the case's id")]


def pdf_response(found: dossiers.Dossier) -> Response:
    return Response(
        found.bound.data,
        media_type="application/pdf",
        headers={
            "Content-Disposition": content_disposition(found.filename),
            "X-Content-Type-Options": "nosniff",
            "ETag": f'"{found.sha256}"',
            "Cache-Control": "no-store",
            "X-Dossier-Pages": str(found.bound.pages),
        },
    )


@router.get(
    "/{case_id}/dossier.pdf",
    operation_id="download_dossier",
    response_class=Response,
    responses={
        404: {"description": "no such case, or outside your scope", **PROBLEM_CONTENT},
        409: {"description": "the case is not closed (rule dossier-closed-cases-only)", **PROBLEM_CONTENT},
        200: {"description": "the 卷宗 as one PDF", "content": {"application/pdf": {}}},
    },
)
async def download_dossier(
    case_id: CaseId,
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    rules: RulesDep,
    numbering: NumberingDep,
    client_ip: ClientAddress,
) -> Response:
    """The closed case's 卷宗 as one A4 PDF: the cover (卷宗号, committee, parties, dispute type,
    mediators, dates, outcome), the index (卷内目录: each item, its date and the page it starts
    on), then the latest PDF of each generated document and every scan not withdrawn, in the
    order of ``config/case_file.yaml``. Bound on request; the download is in the security log
    with the SHA-256 served (the ``ETag``). An open case: 409."""
    found = await dossiers.dossier(
        engine, ctx, rules, numbering, case_id, actor, now=clock.now(), client_ip=client_ip
    )
    return pdf_response(found)
