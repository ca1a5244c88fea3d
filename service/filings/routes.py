"""HTTP routes for the filed monthly reports and the court reconciliation: thin — parse, call the
use case, return."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from service import clock
from service.context import ContextDep
from service.db import EngineDep
from service.errors import PROBLEM_CONTENT
from service.exports import FILE_CONTENT, ExportFormat
from service.filings import reconciliation
from service.filings import service as filings
from service.filings.export import export_response
from service.filings.schemas import CellCases, CorrectionIn, FilingIn, FilingOut, FilingPage, Reconciliation
from service.users.deps import ActorDep, ClientAddress

router = APIRouter(prefix="/api/v1/filings", tags=["filings"])

ERRORS: dict[int | str, dict[str, object]] = {
    401: {"description": "not signed in", **PROBLEM_CONTENT},
    403: {"description": "your role files nothing, or only reads", **PROBLEM_CONTENT},
    404: {"description": "no such filing or cell, or outside your scope", **PROBLEM_CONTENT},
    409: {"description": "already filed, not the current version, or towns not yet filed", **PROBLEM_CONTENT},
    422: {"description": "invalid unit, month (or a month not over) or body, each named", **PROBLEM_CONTENT},
}

FilingId = Annotated[int, Path(ge=1, le=2**63 - 1)]
CellKey = Annotated[str, Path(min_length=1, max_length=200)]
UnitQuery = Annotated[str | None, Query(max_length=32, description="a town centre or the city centre")]
MonthQuery = Annotated[str | None, Query(max_length=16, description="YYYY-MM", examples=["2026-03"])]
Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]


@router.get("", response_model=FilingPage, operation_id="list_filings", responses=ERRORS)
async def list_filings(
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    unit: UnitQuery = None,
    month: MonthQuery = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> FilingPage:
    """Filed versions within your scope, newest month first; `current` marks each month's latest."""
    return await filings.list_filings(engine, ctx, actor, unit=unit, month=month, limit=limit, offset=offset)


@router.post("", response_model=FilingOut, status_code=201, operation_id="file_month", responses=ERRORS)
async def file_month(
    body: FilingIn, actor: ActorDep, engine: EngineDep, ctx: ContextDep, client_ip: ClientAddress
) -> FilingOut:
    """File a month for a town centre (its figures as they stand now), or consolidate the city's
    from its towns' current filings (409 naming the towns that have not filed). The figures and the
    cases behind each are frozen and hashed; the hash is in the security log. Coordinators (their
    subtree) and administrators; the month must be over (422 naming `month`); filing twice: 409."""
    return await filings.file_month(
        engine, ctx, actor, body.unit, body.month, now=clock.now(), client_ip=client_ip
    )


@router.get(
    "/reconciliation", response_model=Reconciliation, operation_id="court_reconciliation", responses=ERRORS
)
async def court_reconciliation(
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    unit: Annotated[str, Query(min_length=1, max_length=32)],
    month: Annotated[str, Query(min_length=1, max_length=16, examples=["2026-03"])],
) -> Reconciliation:
    """Court 委托/委派 delegations and their returns in the month, as the court desk recorded them
    (its referrals) against the bureau's records (the cases' events; cases registered from a court
    referral), with each mismatch named: only_court, only_bureau, delegated_on, returned_on, outcome."""
    return await reconciliation.reconcile(engine, ctx, actor, unit, month)


@router.get("/{filing_id}", response_model=FilingOut, operation_id="get_filing", responses=ERRORS)
async def get_filing(filing_id: FilingId, actor: ActorDep, engine: EngineDep, ctx: ContextDep) -> FilingOut:
    """A filed version, its cells with the number of cases behind each, and every version of its month."""
    return await filings.read_filing(engine, ctx, actor, filing_id)


@router.post(
    "/{filing_id}/corrections",
    response_model=FilingOut,
    status_code=201,
    operation_id="correct_filing",
    responses=ERRORS,
)
async def correct_filing(
    filing_id: FilingId,
    body: CorrectionIn,
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    client_ip: ClientAddress,
) -> FilingOut:
    """A correction: a new version of the month, built again now, with its reason. The filing
    corrected must be the current version; earlier versions stay readable as filed."""
    return await filings.correct(
        engine, ctx, actor, filing_id, body.reason, now=clock.now(), client_ip=client_ip
    )


@router.get(
    "/{filing_id}/cells/{key}/cases",
    response_model=CellCases,
    operation_id="filing_cell_cases",
    responses=ERRORS,
)
async def cell_cases(
    filing_id: FilingId,
    key: CellKey,
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    limit: Limit = 50,
    offset: Offset = 0,
) -> CellCases:
    """The cases behind a filed figure, as frozen when it was filed (what each is now beside it)."""
    return await filings.cell_cases(engine, ctx, actor, filing_id, key, limit=limit, offset=offset)


@router.get(
    "/{filing_id}/export",
    operation_id="export_filing",
    response_class=Response,
    responses={
        **ERRORS,
        200: {
            "description": "the filed version as CSV (UTF-8 with BOM) or XLSX",
            "content": FILE_CONTENT,
        },
    },
)
async def export_filing(
    filing_id: FilingId,
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    client_ip: ClientAddress,
    format: Annotated[ExportFormat, Query(description="csv or xlsx")] = ExportFormat.csv,
) -> Response:
    """The filed version as a file: its heading (unit, month, version, reason, SHA-256) and grid."""
    out, report = await filings.frozen_report(engine, ctx, actor, filing_id)
    return await export_response(engine, actor, out, report, format, client_ip=client_ip, now=clock.now())
