"""The case file check on the case page: what a complete 卷宗 still lacks (the rules are the API's,
service.casefile and config/case_file.yaml; this only shows them)."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncEngine

from service.casefile import service as casefile
from service.casefile.schemas import FileCheckOut
from service.cases.rows import CaseRow
from workflows.case_file import CaseFileRules


async def section(request: Request, engine: AsyncEngine, row: CaseRow) -> FileCheckOut:
    """The check of a case the page has read for the reader (``visible_row``)."""
    rules: CaseFileRules = request.app.state.case_file_rules
    return await casefile.file_check_of(engine, rules, row)
