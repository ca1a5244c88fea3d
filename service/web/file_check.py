"""The case file check on the case page: what a complete 卷宗 still lacks (the rules are the API's,
service.casefile and config/case_file.yaml; this only shows them)."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncEngine

from service.casefile import service as casefile
from service.casefile.schemas import FileCheckOut
from service.cases.schemas import CasePublic
from service.context import AppContext
from workflows.case_file import CaseFileRules
from workflows.lifecycle import Actor


async def section(
    request: Request, engine: AsyncEngine, ctx: AppContext, case: CasePublic, actor: Actor
) -> FileCheckOut:
    rules: CaseFileRules = request.app.state.case_file_rules
    return await casefile.file_check(engine, ctx, rules, case.id, actor)
