"""The case file check: gather what the file holds, apply ``workflows.case_file``."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.casefile import queries
from service.casefile.schemas import FileCheckOut, FileItemOut
from service.cases.rows import CaseRecord, CaseRow
from service.cases.service import visible_row
from service.context import AppContext
from service.db import reading
from service.language import answer_language
from workflows.case_file import CaseFileRules, FileCheck, FileFacts, check
from workflows.lifecycle import Actor


def facts(
    *,
    state: str,
    outcome: str | None,
    termination_reason: str | None,
    summary: str,
    parties: tuple[tuple[int, str], ...],
    consents: tuple[Mapping[str, Any], ...],
    agreement: Mapping[str, Any] | None,
    performance: str | None,
    holding: queries.Holding,
) -> FileFacts:
    """The file's facts: the case's own row and what lies beside it (sessions, scans, number)."""
    return FileFacts(
        state=state,
        outcome=outcome,
        termination_reason=termination_reason,
        summary=summary,
        parties=parties,
        consents=consents,
        agreement=agreement,
        performance=performance,
        sessions=holding.sessions,
        signed_scans=holding.signed_scans,
        file_number=holding.file_number,
        terminated=holding.terminated,
    )


async def holdings(conn: AsyncConnection, case_ids: Collection[int]) -> dict[int, queries.Holding]:
    """What lies in each case's file beside its row (for a ledger judging many files at once)."""
    return await queries.holdings(conn, case_ids)


async def facts_of(engine: AsyncEngine, row: CaseRecord) -> FileFacts:
    """What the case's file holds today (its row, sessions, signed scans, 卷宗 number, trail)."""
    async with reading(engine) as conn:
        holding = (await queries.holdings(conn, [row.id]))[row.id]
    return facts(
        state=row.state.value,
        outcome=None if row.outcome is None else row.outcome.value,
        termination_reason=None if row.termination_reason is None else row.termination_reason.value,
        summary=row.summary,
        parties=tuple((p.id, p.role.value) for p in row.parties),
        consents=tuple(row.consents or ()),
        agreement=row.agreement,
        performance=row.performance,
        holding=holding,
    )


async def check_case(engine: AsyncEngine, row: CaseRecord, rules: CaseFileRules) -> FileCheck:
    return check(await facts_of(engine, row), rules)


def out(case_id: int, result: FileCheck, rules: CaseFileRules) -> FileCheckOut:
    english = answer_language() == "en"
    return FileCheckOut(
        case_id=case_id,
        complete=result.complete,
        missing=[item.value for item in result.gaps],
        basis=rules.basis,
        items=[
            FileItemOut(
                item=i.item.value,
                status=i.status.value,
                required=i.required,
                label=i.en if english else i.zh,
                label_zh=i.zh,
                label_en=i.en,
                source=i.source_en if english else i.source,
                source_zh=i.source,
                source_en=i.source_en,
                why=i.why_en if english else i.why_zh,
                why_zh=i.why_zh,
                why_en=i.why_en,
            )
            for i in result.items
        ],
    )


async def file_check(
    engine: AsyncEngine, ctx: AppContext, rules: CaseFileRules, case_id: int, actor: Actor
) -> FileCheckOut:
    """What the case's file still lacks, for those who see the case (404 for everyone else)."""
    row = await visible_row(engine, ctx, case_id, actor)
    return await file_check_of(engine, rules, row)


async def file_check_of(engine: AsyncEngine, rules: CaseFileRules, row: CaseRow) -> FileCheckOut:
    """``file_check`` of a case already read for the reader (the case page reads it once)."""
    return out(row.id, await check_case(engine, row, rules), rules)
